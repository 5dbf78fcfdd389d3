using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Backstop.Tests;

/// <summary>
/// A slice calls another slice only through the small public interface in the callee's folder (DESIGN §1), never
/// through its types, SQL or stores. Checked on the compiled assembly (every type reference, in signatures and in
/// method bodies), so a fully qualified name or a <c>using</c> cannot slip past it.
/// </summary>
public sealed class ArchitectureTests
{
    [Fact]
    public void A_feature_slice_uses_another_slice_only_through_its_public_interface() =>
        SliceDependencies.Violations(typeof(Program).Assembly.Location, "Backstop.Features").ShouldBeEmpty();

    [Fact]
    public void The_check_finds_a_slice_reaching_into_another_slices_internals()
    {
        var violations = SliceDependencies.Violations(typeof(ArchitectureTests).Assembly.Location, "Backstop.Tests.ArchitectureFixture.Features");
        violations.ShouldContain(v => v.Contains("Alpha.ReachesIn") && v.Contains("Beta.BetaStore"));
        violations.ShouldNotContain(v => v.Contains("IBetaService") || v.Contains("BetaResult"));
    }

    [Fact]
    public void A_feature_slice_asks_the_dialect_helper_and_never_uses_a_database_driver_itself() =>
        DriverDependencies.Violations(typeof(Program).Assembly.Location, "Backstop.Features").ShouldBeEmpty();

    [Fact]
    public void The_check_finds_a_feature_type_using_a_database_drivers_types()
    {
        var violations = DriverDependencies.Violations(typeof(ArchitectureTests).Assembly.Location, "Backstop.Tests.ArchitectureFixture.Features");
        violations.ShouldContain(v => v.Contains("Gamma.CatchesPostgres") && v.Contains("Npgsql.PostgresException"));
        violations.ShouldContain(v => v.Contains("Gamma.LocksOnSqlite") && v.Contains("Microsoft.Data.Sqlite.SqliteConnection"));
        violations.ShouldNotContain(v => v.Contains("Gamma.PortableOnly"));
    }
}

/// <summary>
/// The database drivers stay behind <c>Infrastructure/Data</c> (<c>Db</c>, <c>DialectSql</c>): a feature slice that
/// needs a dialect-specific clause or error decision asks the helper, so the two dialects differ in one file.
/// </summary>
internal static class DriverDependencies
{
    private static readonly string[] Drivers = ["Npgsql", "Microsoft.Data.Sqlite"];

    /// <summary>Every reference from a type under <paramref name="root"/> to a type of a database driver's assembly.</summary>
    public static IReadOnlyList<string> Violations(string assemblyPath, string root)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assembly.MainModule.GetTypes())
        {
            var top = SliceDependencies.TopLevel(type);
            if (!top.Namespace.StartsWith(root + ".", StringComparison.Ordinal)) continue;
            foreach (var used in SliceDependencies.References(type))
            {
                var resolved = used.GetElementType();
                if (resolved.Scope is AssemblyNameReference reference && Drivers.Contains(reference.Name, StringComparer.Ordinal))
                    violations.Add($"{top.FullName} uses {resolved.FullName} ({reference.Name})");
            }
        }
        return [.. violations];
    }
}

internal static class SliceDependencies
{
    /// <summary>
    /// Every reference from a type of slice X (the namespace segment after <paramref name="root"/>) to a type of
    /// another slice Y that is not Y's public face: a public interface in Y's root namespace, or a type that appears
    /// in such an interface's signatures (its requests and results).
    /// </summary>
    public static IReadOnlyList<string> Violations(string assemblyPath, string root)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var types = assembly.MainModule.GetTypes().ToList();
        var allowed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var face in types.Where(t => t.IsInterface && t.IsPublic && SliceOf(t, root) is { } s && TopLevel(t).Namespace == root + "." + s))
        {
            allowed.Add(face.FullName);
            foreach (var method in face.Methods)
                foreach (var used in Expand(method.ReturnType).Concat(method.Parameters.SelectMany(p => Expand(p.ParameterType))))
                    allowed.Add(used.FullName);
        }

        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in types)
        {
            if (SliceOf(type, root) is not { } slice) continue;
            foreach (var used in References(type))
            {
                var resolved = used.GetElementType();
                if (resolved.Scope?.Name != assembly.MainModule.Name && resolved.Module != assembly.MainModule) continue;
                var other = SliceOf(resolved, root);
                if (other is null || other == slice || allowed.Contains(resolved.FullName)) continue;
                violations.Add($"{TopLevel(type).FullName} ({slice}) uses {resolved.FullName} ({other})");
            }
        }
        return [.. violations];
    }

    private static string? SliceOf(TypeReference type, string root)
    {
        var ns = TopLevel(type).Namespace;
        if (!ns.StartsWith(root + ".", StringComparison.Ordinal)) return null;
        return ns[(root.Length + 1)..].Split('.')[0];
    }

    internal static TypeReference TopLevel(TypeReference type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        return type;
    }

    private static IEnumerable<TypeReference> Expand(TypeReference type)
    {
        yield return type.GetElementType();
        if (type is GenericInstanceType generic)
            foreach (var argument in generic.GenericArguments.SelectMany(Expand))
                yield return argument;
        if (type is TypeSpecification { ElementType: { } element } && element != type)
            foreach (var inner in Expand(element))
                yield return inner;
    }

    internal static IEnumerable<TypeReference> References(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        if (type.BaseType is not null) found.AddRange(Expand(type.BaseType));
        found.AddRange(type.Interfaces.SelectMany(i => Expand(i.InterfaceType)));
        found.AddRange(type.Fields.SelectMany(f => Expand(f.FieldType)));
        found.AddRange(type.Properties.SelectMany(p => Expand(p.PropertyType)));
        foreach (var method in type.Methods)
        {
            found.AddRange(Expand(method.ReturnType));
            found.AddRange(method.Parameters.SelectMany(p => Expand(p.ParameterType)));
            if (!method.HasBody) continue;
            found.AddRange(method.Body.Variables.SelectMany(v => Expand(v.VariableType)));
            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference t:
                        found.AddRange(Expand(t));
                        break;
                    case MethodReference m:
                        found.AddRange(Expand(m.DeclaringType));
                        found.AddRange(Expand(m.ReturnType));
                        found.AddRange(m.Parameters.SelectMany(p => Expand(p.ParameterType)));
                        if (m is GenericInstanceMethod gm) found.AddRange(gm.GenericArguments.SelectMany(Expand));
                        break;
                    case FieldReference f:
                        found.AddRange(Expand(f.DeclaringType));
                        found.AddRange(Expand(f.FieldType));
                        break;
                }
            }
        }
        return found.Where(t => t is not GenericParameter);
    }
}
