using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Backstop.Tests;

/// <summary>
/// One main type per file (docs/architecture.md, "Files and namespaces"): a top-level class, struct or interface lives
/// in a file named like it; records and enums (requests, answers, rows, results) may sit beside the type that uses
/// them, and a file named for none of its types holds only those. <c>file</c>-scoped types and <c>partial</c> parts
/// are exempt. Read from the app's source with Roslyn. The files that predate the rule are listed in
/// <c>OneTypePerFile.allow.txt</c>, which may only shrink: a listed file that follows the rule fails the test too.
/// </summary>
public sealed class ArchitectureFileTests
{
    [Fact]
    public void Every_class_struct_and_interface_of_the_app_lives_in_a_file_named_like_it_but_the_listed_ones()
    {
        var root = RepositoryRoot();
        var found = new List<string>();
        var files = 0;
        foreach (var path in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, path).Replace('\\', '/');
            if (relative.Split('/')[0] is "tests" or "bench" or "bin" or "obj" or ".tools" or "publish" or "out" or "data") continue;
            files++;
            found.AddRange(Violations(Path.GetFileName(path), File.ReadAllText(path)).Select(type => $"{relative}: {type}"));
        }
        files.ShouldBeGreaterThan(300);

        var allowed = File.ReadAllLines(Path.Combine(root, "tests", "Backstop.Tests", "OneTypePerFile.allow.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        found.Except(allowed).ShouldBeEmpty("a class, struct or interface not named like its file (move it to <Type>.cs)");
        allowed.Except(found).ShouldBeEmpty("listed but following the rule now: delete the line");
    }

    [Fact]
    public void The_rule_fires_on_a_hidden_class_and_a_misnamed_file_and_spares_records_enums_file_types_and_partials()
    {
        Violations("BotStarter.cs", """
            namespace X;
            internal sealed class BotStarter { }
            internal static class BotCompensation { }
            """).ShouldBe(["BotCompensation"]);
        Violations("Lockout.cs", "namespace X;\ninternal sealed class AuthLockout { }\n").ShouldBe(["AuthLockout"]);
        Violations("Contracts.cs", "namespace X;\npublic interface IOutbox { }\npublic record Envelope(string Id);\n").ShouldBe(["IOutbox"]);

        Violations("CreateKey.cs", """
            namespace X;
            public sealed record CreateKeyRequest(string Name);
            public enum KeyKind { Live, Test }
            internal readonly record struct Key(string Id);
            public sealed class CreateKey { public sealed class Nested { } }
            file sealed class Helper { }
            """).ShouldBeEmpty();
        Violations("ConsumeBatch.cs", "namespace X;\npublic sealed class ConsumeBatch { }\ninternal sealed partial class UsageMeter { }\n").ShouldBeEmpty();
        Violations("BillingRows.cs", "namespace X;\npublic sealed record PlanRow(string Code);\npublic enum SubscriptionStatus { Active }\n").ShouldBeEmpty();
    }

    /// <summary>The top-level classes, structs and interfaces of a file that break the rule.</summary>
    internal static IReadOnlyList<string> Violations(string fileName, string source)
    {
        var stem = Path.GetFileNameWithoutExtension(fileName);
        var root = CSharpSyntaxTree.ParseText(source).GetCompilationUnitRoot();
        var members = root.Members.SelectMany(m => m is BaseNamespaceDeclarationSyntax ns ? ns.Members : [m]);
        return members.OfType<TypeDeclarationSyntax>()
            .Where(t => t is ClassDeclarationSyntax or StructDeclarationSyntax or InterfaceDeclarationSyntax)
            .Where(t => !t.Modifiers.Any(SyntaxKind.FileKeyword) && !t.Modifiers.Any(SyntaxKind.PartialKeyword))
            .Select(t => t.Identifier.ValueText)
            .Where(name => name != stem)
            .ToList();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "App.csproj"))) return dir.FullName;
        throw new InvalidOperationException("the repository root (App.csproj) is not above " + AppContext.BaseDirectory);
    }
}
