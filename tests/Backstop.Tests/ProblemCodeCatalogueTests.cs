using System.Text.RegularExpressions;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Backstop.Tests;

/// <summary>
/// docs/errors.md lists every problem <c>code</c> the code can answer: the codes are collected from the compiled
/// assembly (the string constant passed as the <c>code</c> argument of <c>ProblemException</c>, its subclasses and
/// <c>Problem.For</c>/<c>Problem.WriteAsync</c>), and the table must hold exactly those.
/// </summary>
public sealed partial class ProblemCodeCatalogueTests
{
    [Fact]
    public void Docs_errors_md_lists_every_problem_code_and_no_other()
    {
        var found = ProblemCodes.Collect(typeof(Program).Assembly.Location, "Backstop.Infrastructure.Errors.ProblemException",
            "Backstop.Infrastructure.Errors.Problem", "Backstop.Infrastructure.Security.AuthFailure");
        found.Count.ShouldBeGreaterThan(50);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "App.csproj"))) root = root.Parent ?? throw new InvalidOperationException("repository root not found");
        var rows = File.ReadAllLines(Path.Combine(root.FullName, "docs", "errors.md"))
            .Select(l => Row().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();
        rows.GroupBy(r => r).Where(g => g.Count() > 1).Select(g => g.Key).ShouldBeEmpty("codes listed twice in docs/errors.md");
        var missing = found.Keys.Except(rows).Order(StringComparer.Ordinal).ToList();
        missing.ShouldBeEmpty("codes missing from docs/errors.md:\n" + string.Join("\n", missing.Select(c => $"| `{c}` | {string.Join(", ", found[c])} |")));
        rows.Except(found.Keys).ShouldBeEmpty("codes in docs/errors.md that the code no longer answers");
    }

    [Fact]
    public void The_collector_finds_codes_passed_to_the_problem_helpers()
    {
        var found = ProblemCodes.Collect(typeof(ProblemCodeCatalogueTests).Assembly.Location,
            typeof(ArchitectureFixture.Problems.FixtureProblem).FullName!, typeof(ArchitectureFixture.Problems.FixtureProblems).FullName!);
        found.Keys.Order(StringComparer.Ordinal).ShouldBe(["fixture_conflict", "fixture_gone", "fixture_missing"]);
        found["fixture_missing"].ShouldBe([404]);
    }

    [GeneratedRegex(@"^\| `([a-z0-9_]+)` \|")]
    private static partial Regex Row();
}

internal static class ProblemCodes
{
    /// <summary>
    /// Code → statuses (where a constant) of every call that passes a string constant as the <c>code</c> parameter of
    /// <paramref name="exceptionType"/>'s constructors (and its subclasses') or of <paramref name="helperType"/>'s methods.
    /// </summary>
    public static SortedDictionary<string, SortedSet<int>> Collect(string assemblyPath, string exceptionType, params string[] helperTypes)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var found = new SortedDictionary<string, SortedSet<int>>(StringComparer.Ordinal);
        foreach (var type in assembly.MainModule.GetTypes())
            foreach (var method in type.Methods.Where(m => m.HasBody))
            {
                var instructions = method.Body.Instructions;
                for (var i = 0; i < instructions.Count; i++)
                {
                    if (instructions[i].Operand is not MethodReference target || instructions[i].OpCode.Code is not (Code.Newobj or Code.Call or Code.Callvirt)) continue;
                    if (!IsProblemTarget(target, exceptionType, helperTypes)) continue;
                    var codeIndex = target.Parameters.ToList().FindIndex(p => p.Name == "code" && p.ParameterType.FullName == "System.String");
                    if (codeIndex < 0) continue;
                    // A base-constructor call from a subclass passes its own parameter along: that is not a site.
                    if (Producer(instructions, i, target, codeIndex) is not { OpCode.Code: Code.Ldstr } producer) continue;
                    var code = (string)producer.Operand;
                    if (!found.TryGetValue(code, out var statuses)) found[code] = statuses = [];
                    var statusIndex = target.Parameters.ToList().FindIndex(p => p.Name == "status" && p.ParameterType.FullName == "System.Int32");
                    if (statusIndex >= 0 && Producer(instructions, i, target, statusIndex) is { } s && ConstantInt(s) is { } status) statuses.Add(status);
                }
            }
        return found;
    }

    private static bool IsProblemTarget(MethodReference target, string exceptionType, string[] helperTypes)
    {
        if (helperTypes.Contains(target.DeclaringType.FullName)) return true;
        if (target.Name != ".ctor") return false;
        for (var type = target.DeclaringType.Resolve(); type is not null; type = type.BaseType?.Resolve())
            if (type.FullName == exceptionType) return true;
        return false;
    }

    /// <summary>
    /// The instruction that pushed argument <paramref name="parameterIndex"/> of the call at <paramref name="callIndex"/>,
    /// walking back over straight-line code and over a later argument's conditional expression (<c>c ? a : b</c>: its
    /// else branch is walked, its then branch skipped, since both push the same).
    /// </summary>
    private static Instruction? Producer(IList<Instruction> instructions, int callIndex, MethodReference target, int parameterIndex)
    {
        var call = instructions[callIndex];
        var withThis = target.HasThis && call.OpCode.Code != Code.Newobj;
        var pushed = target.Parameters.Count + (withThis ? 1 : 0);
        var position = parameterIndex + (withThis ? 1 : 0);
        var depth = pushed - 1 - position; // 0 = the top of the stack before the call
        for (var i = callIndex - 1; i >= 0; i--)
        {
            var instruction = instructions[i];
            if (instruction.OpCode.FlowControl == FlowControl.Branch && i + 1 < instructions.Count)
            {
                var elseStart = instructions[i + 1];
                var condition = -1;
                for (var j = i - 1; j >= 0; j--)
                    if (instructions[j].OpCode.FlowControl == FlowControl.Cond_Branch && instructions[j].Operand == elseStart) { condition = j; break; }
                if (condition < 0) return null;
                depth += Pops(instructions[condition]);
                i = condition;
                continue;
            }
            if (instruction.OpCode.FlowControl is FlowControl.Cond_Branch or FlowControl.Return or FlowControl.Throw) return null;
            var push = Pushes(instruction);
            if (depth < push) return push == 1 ? instruction : null;
            depth = depth - push + Pops(instruction);
        }
        return null;
    }

    private static int? ConstantInt(Instruction i) => i.OpCode.Code switch
    {
        Code.Ldc_I4 => (int)i.Operand,
        Code.Ldc_I4_S => (sbyte)i.Operand,
        _ => null,
    };

    private static int Pushes(Instruction i) => i.OpCode.StackBehaviourPush switch
    {
        StackBehaviour.Push0 => 0,
        StackBehaviour.Push1_push1 => 2,
        StackBehaviour.Varpush => i.Operand is MethodReference m && m.ReturnType.FullName != "System.Void" ? 1 : 0,
        _ => 1,
    };

    private static int Pops(Instruction i)
    {
        if (i.OpCode.StackBehaviourPop == StackBehaviour.Varpop)
            return i.Operand is MethodReference m ? m.Parameters.Count + (m.HasThis && i.OpCode.Code != Code.Newobj ? 1 : 0) : 0;
        return i.OpCode.StackBehaviourPop switch
        {
            StackBehaviour.Pop0 => 0,
            StackBehaviour.Pop1 or StackBehaviour.Popi or StackBehaviour.Popref => 1,
            StackBehaviour.Popi_popi_popi or StackBehaviour.Popref_popi_popi or StackBehaviour.Popref_popi_popi8 or StackBehaviour.Popref_popi_popr4
                or StackBehaviour.Popref_popi_popr8 or StackBehaviour.Popref_popi_popref => 3,
            _ => 2,
        };
    }
}
