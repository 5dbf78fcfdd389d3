using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Backstop.Tests;

/// <summary>
/// Every mutating endpoint (POST, PUT, PATCH, DELETE) writes an audit row (DESIGN: every state change writes its
/// audit row): checked on the compiled assembly by following calls from the endpoint's code (its async state
/// machines, lambdas, the services it calls, every implementation of an interface it calls) until a call to
/// <c>IAuditLog.RecordAsync</c> is found. The few that rightly write none are listed with the reason.
/// </summary>
public sealed class AuditArchitectureTests
{
    /// <summary>Mutating endpoints that write no audit row, and why. Keep it short: a new entry needs a reason a reviewer accepts.</summary>
    private static readonly Dictionary<string, string> Exempt = new(StringComparer.Ordinal)
    {
        ["Backstop.Infrastructure.Inbox.ReceiveWebhook"] = "a provider's delivery is stored in the inbox; the handlers audit what it changes (consent, subscriptions)",
        ["Backstop.Features.Billing.Subscriptions.PaddleCheckout"] = "issues a signed checkout reference; changes no stored state",
        ["Backstop.Features.Messaging.VerifyOtp"] = "an end user's attempt at a code; counted on the code's row, no change of what the tenant or operator configured",
        ["Backstop.Features.Quota.ConsumeUsage"] = "a consumption is recorded in its idempotency row, not audited: a row per consumption would double the hot path's writes (docs/quota.md)",
        ["Backstop.Features.Quota.ConsumeBatch"] = "consumptions, as ConsumeUsage: recorded in their idempotency rows, not audited (docs/quota.md)",
        ["Backstop.Features.Quota.ReleaseUsage"] = "audited (usage.release) in the usage group commit's transaction, which the call walk cannot follow through its channel",
    };

    [Fact]
    public void Every_mutating_endpoint_writes_an_audit_row_or_is_listed_with_a_reason()
    {
        var missing = MutationAudit.Unaudited(typeof(Program).Assembly.Location, IsFastEndpointsVerb, "Backstop.Infrastructure.Audit.IAuditLog");
        missing.Except(Exempt.Keys).ShouldBeEmpty("mutating endpoints that write no audit row");
    }

    [Fact]
    public void The_exemption_list_names_only_endpoints_that_exist_and_do_not_audit()
    {
        var missing = MutationAudit.Unaudited(typeof(Program).Assembly.Location, IsFastEndpointsVerb, "Backstop.Infrastructure.Audit.IAuditLog");
        Exempt.Keys.Except(missing).ShouldBeEmpty("exempt endpoints that audit after all (or no longer exist): take them off the list");
    }

    [Fact]
    public void The_check_finds_an_endpoint_that_writes_no_audit_row()
    {
        var missing = MutationAudit.Unaudited(typeof(AuditArchitectureTests).Assembly.Location,
            m => m.DeclaringType.FullName == typeof(ArchitectureFixture.Audit.FixtureEndpoint).FullName && m.Name is "Post" or "Delete",
            typeof(ArchitectureFixture.Audit.IFixtureAudit).FullName!);
        missing.ShouldContain(typeof(ArchitectureFixture.Audit.ForgetsTheAudit).FullName!);
        missing.ShouldNotContain(typeof(ArchitectureFixture.Audit.AuditsThroughAService).FullName!);
        missing.ShouldNotContain(typeof(ArchitectureFixture.Audit.AuditsInALambda).FullName!);
        missing.ShouldNotContain(typeof(ArchitectureFixture.Audit.OnlyReads).FullName!);
    }

    private static bool IsFastEndpointsVerb(MethodReference method) =>
        method.DeclaringType.Namespace.StartsWith("FastEndpoints", StringComparison.Ordinal) && method.Name is "Post" or "Put" or "Patch" or "Delete" or "Verbs";
}

internal static class MutationAudit
{
    /// <summary>Types with a <c>Configure</c> method that declares a mutating verb and from whose code no call reaches <paramref name="auditInterface"/>'s <c>RecordAsync</c>.</summary>
    public static IReadOnlyList<string> Unaudited(string assemblyPath, Func<MethodReference, bool> isMutatingVerb, string auditInterface)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var types = assembly.MainModule.GetTypes().ToList();
        // Interface method → the methods implementing it in this assembly (by name and arity: enough for our services).
        var implementations = new Dictionary<string, List<MethodDefinition>>(StringComparer.Ordinal);
        foreach (var type in types.Where(t => t.IsClass && t.HasInterfaces))
            foreach (var iface in type.Interfaces.Select(i => i.InterfaceType.Resolve()).Where(i => i is not null && i.Module == assembly.MainModule))
                foreach (var method in iface!.Methods)
                    foreach (var impl in type.Methods.Where(m => m.HasBody && (m.Name == method.Name || m.Name.EndsWith("." + method.Name, StringComparison.Ordinal)) && m.Parameters.Count == method.Parameters.Count))
                    {
                        if (!implementations.TryGetValue(Key(method), out var list)) implementations[Key(method)] = list = [];
                        list.Add(impl);
                    }

        var unaudited = new List<string>();
        foreach (var type in types)
        {
            var configure = type.Methods.FirstOrDefault(m => m.Name == "Configure" && m.HasBody && m.Parameters.Count == 0);
            if (configure is null || !configure.Body.Instructions.Any(i => i.Operand is MethodReference m && isMutatingVerb(m))) continue;
            if (!Reaches(type, auditInterface, implementations)) unaudited.Add(type.FullName);
        }
        return unaudited;
    }

    private static string Key(MethodReference method) => method.DeclaringType.Resolve()?.FullName + "::" + method.Name + "/" + method.Parameters.Count;

    private static bool Reaches(TypeDefinition endpoint, string auditInterface, Dictionary<string, List<MethodDefinition>> implementations)
    {
        var seen = new HashSet<MethodDefinition>();
        var queue = new Queue<MethodDefinition>();
        void Add(MethodDefinition m)
        {
            if (!seen.Add(m)) return;
            queue.Enqueue(m);
            // An async method's body is its state machine.
            foreach (var machine in m.CustomAttributes.Where(a => a.AttributeType.Name == "AsyncStateMachineAttribute"))
                if (machine.ConstructorArguments[0].Value is TypeReference t && t.Resolve() is { } stateMachine) AddType(stateMachine);
        }
        void AddType(TypeDefinition t)
        {
            foreach (var m in t.Methods.Where(m => m.HasBody)) Add(m);
            foreach (var nested in t.NestedTypes) AddType(nested);
        }
        // The endpoint's own code with its nested state machines and closures.
        AddType(endpoint);
        while (queue.Count > 0)
        {
            var method = queue.Dequeue();
            foreach (var instruction in method.Body.Instructions)
            {
                if (instruction.Operand is not MethodReference called) continue;
                if (called.DeclaringType.FullName == auditInterface && called.Name == "RecordAsync") return true;
                var resolved = called.Resolve();
                if (resolved is null || resolved.Module != method.Module) continue;
                // A lambda's body is a method of its closure, reached through the ldftn that makes its delegate.
                if (resolved.HasBody) Add(resolved);
                if ((resolved.IsAbstract || resolved.DeclaringType.IsInterface) && implementations.TryGetValue(Key(resolved), out var impls))
                    foreach (var impl in impls) Add(impl);
            }
        }
        return false;
    }
}
