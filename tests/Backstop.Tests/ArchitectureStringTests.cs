using System.Reflection;
using System.Text.RegularExpressions;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox;
using Microsoft.Extensions.DependencyInjection;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Backstop.Tests;

/// <summary>
/// Ownership the compiler cannot see. A table belongs to the folder whose migration creates it (a Feature slice:
/// <c>Features/&lt;Slice&gt;</c>; an Infrastructure folder: <c>Infrastructure/&lt;Folder&gt;</c>); no SQL string in another
/// folder's compiled code and no other folder's migration names it. Infrastructure never references a Feature type. A
/// webhook handler, outbox channel or recurring job written and not registered is dead without a sound: each one is
/// registered. Each rule has a self-test over a fixture that breaks it.
/// </summary>
public sealed class ArchitectureStringTests
{
    /// <summary>
    /// Where a folder's code or migration names another folder's table today, and why it may. Keys as
    /// <see cref="TableOwnership"/> reports them: <c>&lt;type or migration&gt; names &lt;table&gt;</c>.
    /// </summary>
    private static readonly Dictionary<string, string> AllowedTableUses = new(StringComparer.Ordinal)
    {
        ["Features/Cleanup/0500_cleanup names meetings"] =
            "applied migration (adds meetings.failure_details and the sweeps' two partial indexes); an applied migration is never edited or moved",
        ["Backstop.Features.Billing.Subscriptions.BillingOrganizationData names outbox_messages"] =
            "an organization deletion's progress counts the provider cancellations the outbox gave up on (dead 'delete-org-cancel' messages); to become a query on the outbox's own interface",
        ["Backstop.Features.Cleanup.ListCleanup names job_runs"] =
            "reads the latest runs of its own sweeps; to go through one Infrastructure/Jobs catalogue with ListJobs (issue 27)",
        ["Backstop.Features.Bots.BotPipelineRepairJob names outbox_messages"] =
            "a meeting whose pipeline step still waits in the outbox is not stuck: the repair reads whether the bots channel holds one (read only)",
        ["Backstop.Features.Bots.MeetingOverviewQuery names outbox_messages"] =
            "the stuck-meetings list uses the repair's definition: a meeting whose pipeline step still waits in the bots channel is not stuck (read only)",
        ["Backstop.Features.Bots.BotsOrganizationData names outbox_messages"] =
            "the organization data report counts the meeting's pending bot calls in the outbox (read only)",
        ["Backstop.Infrastructure.Events.EventDeliverySweepJob names outbox_messages"] =
            "an event delivery is an outbox message of the events channel: Events schedules and reads its own channel's messages",
        ["Backstop.Infrastructure.Events.EventRedeliveries names outbox_messages"] =
            "a redelivery enqueues outbox messages of the events channel in the request's transaction",
        ["Backstop.Infrastructure.Events.EventQueries names outbox_messages"] =
            "the delivery view of an event is the state of its events-channel outbox messages (read only)",
        ["Backstop.Infrastructure.Jobs.JobRunner names job_runs"] = PlatformTables,
        ["Backstop.Infrastructure.Jobs.JobRunner names job_leases"] = PlatformTables,
        ["Backstop.Infrastructure.Jobs.JobRunsRetentionJob names job_runs"] = PlatformTables,
        ["Backstop.Infrastructure.Jobs.ListJobs names job_runs"] = PlatformTables,
        ["Backstop.Infrastructure.Security.AdminKey names admin_credentials"] = PlatformTables,
        ["Backstop.Infrastructure.Security.DatabaseXmlRepository names data_protection_keys"] = PlatformTables,
    };

    private const string PlatformTables =
        "created by the platform migrations (0001–0003) in Infrastructure/Data before Jobs and Security had folders; applied migrations never move, so the table's owner is the folder that uses it";

    /// <summary>Infrastructure types that reference Feature types, and why.</summary>
    private const string OperatorConsole =
        "the operator console is a composition layer like Program.cs: its pages read each slice through that slice's own list query or store (never their SQL), so it names their types";

    private static readonly Dictionary<string, string> AllowedFeatureReferences = new(StringComparer.Ordinal)
    {
        ["Backstop.Infrastructure.OperatorConsole.ConsoleExtensions"] = OperatorConsole,
        ["Backstop.Infrastructure.OperatorConsole.Pages.Inbox"] = OperatorConsole,
        ["Backstop.Infrastructure.OperatorConsole.Pages.Organization"] = OperatorConsole,
        ["Backstop.Infrastructure.OperatorConsole.Pages.Organizations"] = OperatorConsole,
        ["Backstop.Infrastructure.Events.EventDataTypes"] =
            "the event catalogue maps each event type to the slice type its data is serialised from (the one source of /v1/event-types and the OpenAPI schemas); to be inverted so each slice declares its events' data",
        ["Backstop.Infrastructure.Events.EventEndpointHealth"] =
            "emails an organization's notification addresses when its endpoint is disabled, through ApiKeys' public IOrganizationDirectory on the caller's transaction; to be inverted behind an Infrastructure contract ApiKeys implements",
    };

    [Fact]
    public void No_string_constant_names_a_table_of_another_folder_except_the_listed_ones()
    {
        var owners = TableOwnership.Owners(TableOwnership.EmbeddedMigrations(typeof(Program).Assembly));
        var found = TableOwnership.StringViolations(typeof(Program).Assembly.Location, "Backstop", owners);
        found.Select(v => v.Key).Except(AllowedTableUses.Keys).ShouldBeEmpty(
            "SQL naming another folder's table: go through the owner's interface, or list it here with a reason");
    }

    [Fact]
    public void No_migration_names_a_table_of_another_folder_except_the_listed_ones()
    {
        var migrations = TableOwnership.EmbeddedMigrations(typeof(Program).Assembly);
        var found = TableOwnership.MigrationViolations(migrations, TableOwnership.Owners(migrations));
        found.Select(v => v.Key).Except(AllowedTableUses.Keys).ShouldBeEmpty(
            "a migration changing another folder's table: put it in the owner's folder, or list it here with a reason");
    }

    [Fact]
    public void The_allowed_table_uses_are_all_still_found()
    {
        var migrations = TableOwnership.EmbeddedMigrations(typeof(Program).Assembly);
        var owners = TableOwnership.Owners(migrations);
        var found = TableOwnership.StringViolations(typeof(Program).Assembly.Location, "Backstop", owners)
            .Concat(TableOwnership.MigrationViolations(migrations, owners)).Select(v => v.Key);
        AllowedTableUses.Keys.Except(found).ShouldBeEmpty("allowed uses that no longer happen: take them off the list");
    }

    [Fact]
    public void Every_table_has_one_owner()
    {
        var migrations = TableOwnership.EmbeddedMigrations(typeof(Program).Assembly);
        var owners = TableOwnership.Owners(migrations);
        owners.ShouldContainKeyAndValue("meetings", "Features/Bots");
        owners.ShouldContainKeyAndValue("webhook_events", "Infrastructure/Inbox");
        owners.ShouldContainKeyAndValue("billing_disputes", "Features/Billing"); // created under Features/Billing/Dunning
        owners.ShouldContainKeyAndValue("cleanup_totals", "Features/Cleanup");
    }

    [Fact]
    public void The_table_check_finds_a_string_and_a_migration_naming_another_slices_table()
    {
        var migrations = new List<MigrationText>
        {
            new("Features/Beta", "9001_beta", "create table beta_rows (id text primary key);\ncreate table beta_notes (id text);"),
            new("Features/Alpha", "9002_alpha", "create table alpha_rows (id text primary key, beta_id text references beta_rows (id), kind text default 'beta_notes');"),
            new("Features/Alpha", "9003_alpha_reaches", "-- beta_notes is Beta's\ncreate index ix_beta_rows_alpha on beta_rows (id);"),
        };
        var owners = TableOwnership.Owners(migrations);
        owners["beta_rows"].ShouldBe("Features/Beta");

        var fromMigrations = TableOwnership.MigrationViolations(migrations, owners).Select(v => v.Key).ToList();
        fromMigrations.ShouldBe(["Features/Alpha/9003_alpha_reaches names beta_rows"]); // a foreign key and a comment are no use

        var fromStrings = TableOwnership.StringViolations(typeof(ArchitectureStringTests).Assembly.Location, "Backstop.Tests.ArchitectureFixture", owners)
            .Select(v => v.Key).ToList();
        fromStrings.ShouldContain(typeof(ArchitectureFixture.Features.Alpha.ReadsBetasTable).FullName + " names beta_rows");
        fromStrings.ShouldContain(typeof(ArchitectureFixture.Features.Alpha.JoinsBetasTableInPieces).FullName + " names beta_notes");
        fromStrings.ShouldNotContain(v => v.Contains("AlphaOwnSql") || v.Contains("MentionsBetaInProse") || v.Contains(".Beta."));
    }

    [Fact]
    public void Infrastructure_references_no_feature_type_except_the_listed_ones()
    {
        var found = FeatureReferences.FromInfrastructure(typeof(Program).Assembly.Location, "Backstop");
        found.Keys.Except(AllowedFeatureReferences.Keys).ShouldBeEmpty(
            "Infrastructure referencing a Feature type (" + string.Join("; ", found.Where(f => !AllowedFeatureReferences.ContainsKey(f.Key)).SelectMany(f => f.Value)) + ")");
        AllowedFeatureReferences.Keys.Except(found.Keys).ShouldBeEmpty("allowed references that no longer happen: take them off the list");
    }

    [Fact]
    public void The_feature_reference_check_finds_infrastructure_using_a_feature_type()
    {
        var found = FeatureReferences.FromInfrastructure(typeof(ArchitectureStringTests).Assembly.Location, "Backstop.Tests.ArchitectureFixture");
        found.Keys.ShouldBe([typeof(ArchitectureFixture.Infrastructure.Gamma.UsesAFeature).FullName!]);
        found.Values.Single().ShouldContain(v => v.Contains("Beta.BetaStore"));
    }

    [Fact]
    public void The_registration_check_finds_an_implementation_left_out_of_the_container()
    {
        var services = new ServiceCollection();
        services.AddSingleton<ArchitectureFixture.Infrastructure.Gamma.IPlugin, ArchitectureFixture.Features.Alpha.RegisteredPlugin>();
        using var provider = services.BuildServiceProvider();
        var registered = provider.GetServices<ArchitectureFixture.Infrastructure.Gamma.IPlugin>().Select(p => p.GetType());

        var missing = Registrations.Unregistered(typeof(ArchitectureStringTests).Assembly, "Backstop.Tests.ArchitectureFixture",
            typeof(ArchitectureFixture.Infrastructure.Gamma.IPlugin), registered);
        missing.ShouldBe([typeof(ArchitectureFixture.Features.Alpha.ForgottenPlugin).FullName!]);
    }
}

/// <summary>Every handler, channel and job the assembly implements is in the container a started host builds.</summary>
public abstract class ArchitectureRegistrationTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public void Every_webhook_handler_outbox_channel_and_recurring_job_is_registered()
    {
        using var scope = App.Services.CreateScope();
        var services = scope.ServiceProvider;
        var handlers = services.GetServices<IWebhookHandler>().Select(h => h.GetType()).ToList();
        var channels = services.GetServices<IOutboxChannel>().Select(c => c.GetType()).ToList();
        var jobs = services.GetServices<RecurringJobDefinition>().Select(d => d.Type).ToList();
        // A registered job must also be resolvable, as the job runner resolves it.
        foreach (var job in jobs) (services.GetRequiredService(job) is IRecurringJob).ShouldBeTrue(job.FullName);

        var assembly = typeof(Program).Assembly;
        Registrations.Unregistered(assembly, "Backstop", typeof(IWebhookHandler), handlers).ShouldBeEmpty("webhook handlers no module registers");
        Registrations.Unregistered(assembly, "Backstop", typeof(IOutboxChannel), channels).ShouldBeEmpty("outbox channels no module registers");
        Registrations.Unregistered(assembly, "Backstop", typeof(IRecurringJob), jobs).ShouldBeEmpty("recurring jobs no module registers");
        handlers.Count.ShouldBeGreaterThan(10); // the check looks at the real container, not an empty one
        jobs.Count.ShouldBeGreaterThan(10);
    }
}

public sealed class ArchitectureRegistrationTestsOnSqlite(SqliteApp<DefaultSetup> app) : ArchitectureRegistrationTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ArchitectureRegistrationTestsOnPostgres(PostgresApp<DefaultSetup> app) : ArchitectureRegistrationTests(app), IClassFixture<PostgresApp<DefaultSetup>>;

/// <param name="Module">The folder the migration sits in, without <c>/Migrations/&lt;dialect&gt;</c> (<c>Features/Billing/Dunning</c>).</param>
internal sealed record MigrationText(string Module, string Id, string Sql);

internal static partial class TableOwnership
{
    /// <summary>Both dialects' migrations embedded in the app (<c>migrations/&lt;module&gt;/Migrations/&lt;dialect&gt;/&lt;id&gt;.sql</c>).</summary>
    public static IReadOnlyList<MigrationText> EmbeddedMigrations(Assembly assembly)
    {
        var result = new List<MigrationText>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("migrations/", StringComparison.Ordinal)))
        {
            var parts = name.Replace('\\', '/').Split('/');
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            result.Add(new MigrationText(string.Join('/', parts[1..^3]), Path.GetFileNameWithoutExtension(parts[^1]), reader.ReadToEnd()));
        }
        result.Count.ShouldBeGreaterThan(0, "no embedded migrations found");
        return result;
    }

    /// <summary>The owner of a folder path: a Feature slice (<c>Features/Billing/Dunning</c> → <c>Features/Billing</c>) or an Infrastructure folder.</summary>
    public static string? OwnerOf(string module)
    {
        var parts = module.Split('/', '.');
        return parts.Length >= 2 && parts[0] is "Features" or "Infrastructure" ? parts[0] + "/" + parts[1] : null;
    }

    /// <summary>Table → the owner of the folder whose migration creates it.</summary>
    public static IReadOnlyDictionary<string, string> Owners(IEnumerable<MigrationText> migrations)
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in migrations)
            foreach (Match match in CreateTable().Matches(WithoutComments(m.Sql)))
            {
                var table = match.Groups[1].Value.ToLowerInvariant();
                var owner = OwnerOf(m.Module) ?? throw new InvalidOperationException($"Migration {m.Id} is in {m.Module}, outside Features/ and Infrastructure/.");
                if (owners.TryGetValue(table, out var existing) && existing != owner)
                    throw new InvalidOperationException($"Table {table} is created by both {existing} and {owner}.");
                owners[table] = owner;
            }
        return owners;
    }

    /// <summary>
    /// Migrations that name another owner's table (alter it, index it, write to it), keyed
    /// <c>&lt;module&gt;/&lt;id&gt; names &lt;table&gt;</c>. A foreign key (<c>references t</c>) only points at the other
    /// table's key and is not counted; comments are not SQL.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> MigrationViolations(IEnumerable<MigrationText> migrations, IReadOnlyDictionary<string, string> owners)
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in migrations)
        {
            var owner = OwnerOf(m.Module);
            var sql = ForeignKey().Replace(WithoutComments(m.Sql), " ");
            foreach (var table in TablesIn(sql, owners).Where(t => owners[t] != owner))
                found[$"{m.Module}/{m.Id} names {table}"] = $"{m.Module}/{m.Id} ({owner}) names {table} ({owners[table]})";
        }
        return [.. found];
    }

    /// <summary>
    /// String constants (<c>ldstr</c> operands, so every SQL text, interpolation piece and inlined <c>const</c>) of
    /// the types under <paramref name="root"/> that name a table another owner created, keyed
    /// <c>&lt;top-level type&gt; names &lt;table&gt;</c>.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> StringViolations(string assemblyPath, string root, IReadOnlyDictionary<string, string> owners)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var type in assembly.MainModule.GetTypes())
        {
            var top = type;
            while (top.DeclaringType is not null) top = top.DeclaringType;
            if (!top.Namespace.StartsWith(root + ".", StringComparison.Ordinal)) continue;
            var owner = OwnerOf(top.Namespace[(root.Length + 1)..]);
            if (owner is null) continue;
            foreach (var method in type.Methods.Where(m => m.HasBody))
                foreach (var instruction in method.Body.Instructions.Where(i => i.OpCode == OpCodes.Ldstr))
                    foreach (var table in TablesIn((string)instruction.Operand, owners).Where(t => owners[t] != owner))
                        found[$"{top.FullName} names {table}"] = $"{top.FullName} ({owner}) names {table} ({owners[table]})";
        }
        return [.. found];
    }

    /// <summary>
    /// The known tables a text names as SQL does (outside its quoted literals): after <c>from</c>, <c>join</c>, <c>into</c>, <c>update</c>,
    /// <c>table</c>, <c>on</c> or <c>exists</c>, or anywhere in a text that is a statement (starts with a SQL verb).
    /// Prose ("the meetings of an organization") is not SQL and names nothing.
    /// </summary>
    public static IEnumerable<string> TablesIn(string text, IReadOnlyDictionary<string, string> owners)
    {
        text = Literal().Replace(text, "''");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in AfterKeyword().Matches(text)) names.Add(m.Groups[1].Value.ToLowerInvariant());
        if (Statement().IsMatch(text))
            foreach (Match m in Word().Matches(text)) names.Add(m.Value.ToLowerInvariant());
        return names.Where(owners.ContainsKey);
    }

    private static string WithoutComments(string sql) => LineComment().Replace(sql, "");

    [GeneratedRegex(@"\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?([a-z_][a-z0-9_]*)", RegexOptions.IgnoreCase)]
    private static partial Regex CreateTable();

    [GeneratedRegex(@"\breferences\s+[a-z_][a-z0-9_]*", RegexOptions.IgnoreCase)]
    private static partial Regex ForeignKey();

    [GeneratedRegex(@"'[^']*'")]
    private static partial Regex Literal();

    [GeneratedRegex(@"--[^\n]*")]
    private static partial Regex LineComment();

    [GeneratedRegex(@"\b(?:from|join|into|update|table|on|exists)\s+(?:only\s+)?([a-z_][a-z0-9_]*)", RegexOptions.IgnoreCase)]
    private static partial Regex AfterKeyword();

    [GeneratedRegex(@"^\s*(?:select|insert|update|delete|with|create|alter|drop)\s", RegexOptions.IgnoreCase)]
    private static partial Regex Statement();

    [GeneratedRegex(@"\b[a-z_][a-z0-9_]*\b", RegexOptions.IgnoreCase)]
    private static partial Regex Word();
}

internal static class FeatureReferences
{
    /// <summary>Top-level types under <c>&lt;root&gt;.Infrastructure</c> → the types under <c>&lt;root&gt;.Features</c> they reference (signatures and bodies).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> FromInfrastructure(string assemblyPath, string root)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var found = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var type in assembly.MainModule.GetTypes())
        {
            var top = SliceDependencies.TopLevel(type);
            if (top.Namespace != root + ".Infrastructure" && !top.Namespace.StartsWith(root + ".Infrastructure.", StringComparison.Ordinal)) continue;
            foreach (var used in SliceDependencies.References(type))
            {
                var resolved = used.GetElementType();
                if (resolved.Scope?.Name != assembly.MainModule.Name && resolved.Module != assembly.MainModule) continue;
                var ns = SliceDependencies.TopLevel(resolved).Namespace;
                if (!ns.StartsWith(root + ".Features.", StringComparison.Ordinal)) continue;
                if (!found.TryGetValue(top.FullName, out var set)) found[top.FullName] = set = new SortedSet<string>(StringComparer.Ordinal);
                set.Add($"{top.FullName} uses {resolved.FullName}");
            }
        }
        return found.ToDictionary(f => f.Key, f => (IReadOnlyList<string>)[.. f.Value], StringComparer.Ordinal);
    }
}

internal static class Registrations
{
    /// <summary>Concrete implementations of <paramref name="contract"/> under <paramref name="root"/> that are not among <paramref name="registered"/>.</summary>
    public static IReadOnlyList<string> Unregistered(Assembly assembly, string root, Type contract, IEnumerable<Type> registered)
    {
        var known = registered.ToHashSet();
        return assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false, IsGenericTypeDefinition: false } && contract.IsAssignableFrom(t))
            .Where(t => t.Namespace is { } ns && ns.StartsWith(root + ".", StringComparison.Ordinal))
            .Where(t => !known.Contains(t))
            .Select(t => t.FullName!)
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
