using System.Data.Common;
using System.Text.Json;
using Backstop.Infrastructure.Errors;
using Dapper;
using Npgsql;
using Prometheus;

namespace Backstop.Features.Quota;

/// <summary>One metering request: what to do to which counter, and the key a retry repeats.</summary>
internal sealed record UsageChange(UsageScope Scope, string Operation, long Amount, string? Key)
{
    /// <summary>Who asked (for the audit row of a release made through the API): the key's prefix.</summary>
    public string? Actor { get; init; }

    /// <summary>The request's id, for the audit row (the group commit writes it outside the request).</summary>
    public string? RequestId { get; init; }
}

/// <summary>What became of one <see cref="UsageChange"/>: its outcome, or the problem that refused it before anything was written.</summary>
internal readonly record struct UsageDecision(MeterOutcome? Outcome, ProblemException? Problem)
{
    public MeterOutcome Get() => Outcome ?? throw Problem!;
}

/// <summary>
/// The decisions of any number of metering requests inside one transaction: the request path's group commit hands
/// in a batch, a caller's own transaction (a meeting insert) a single change. Every decision is still one statement
/// (<see cref="QuotaSql.Consume"/>: the check and the increment together), taken one after the other, so each sees
/// the one before and nothing can be admitted past a limit, whatever the batch holds.
/// <list type="number">
/// <item>Every idempotency key of the batch is claimed first (<c>insert … on conflict do nothing</c>).
/// Keys before counters, always: two batches (on two instances sharing PostgreSQL) then take their row locks in
/// the same order and cannot deadlock on a key one holds and a counter the other holds.</item>
/// <item>Each change is decided in the batch's order; a key that was already stored (claimed by an earlier
/// transaction) is answered from its stored row instead, counting nothing.</item>
/// <item>The answers of the claimed keys are written, in the same transaction as their counts.</item>
/// <item>A second request with a key already in the batch is a retry of the first: it is answered from the row the
/// first wrote (the same answer, or 409 <c>idempotency_key_reused</c> for a different operation or amount).</item>
/// </list>
/// A database error is thrown and leaves the transaction to be rolled back; a refusal of one request (409) is its
/// own <see cref="UsageDecision.Problem"/> and does not touch its neighbours.
/// </summary>
internal static class UsageDecisions
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly Counter Denials = Metrics.CreateCounter(
        "backstop_quota_denials_total", "Consumptions refused at the limit (403 quota_exceeded), by metric; replays of a stored refusal not counted.", "metric");

    public static async Task<UsageDecision[]> ApplyAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<UsageChange> changes,
        DateTimeOffset now, CancellationToken ct, UsageNotices? notices = null)
    {
        var results = new UsageDecision[changes.Count];
        var owners = new Dictionary<(string, string, string), int>();
        var twins = new List<int>();
        for (var i = 0; i < changes.Count; i++)
            if (changes[i].Key is { } key && !owners.TryAdd(KeyOf(changes[i], key), i)) twins.Add(i);

        // In one order on every instance (ordinal), so concurrent claims of overlapping keys queue instead of deadlocking.
        var claimed = await ClaimAsync(connection, tx,
            [.. owners.OrderBy(o => o.Key.Item1, StringComparer.Ordinal).ThenBy(o => o.Key.Item2, StringComparer.Ordinal)
                .ThenBy(o => o.Key.Item3, StringComparer.Ordinal).Select(o => changes[o.Value])], now, ct);

        var answers = new List<(UsageChange Change, int Status, string Response)>();
        var refused = new List<UsageChange>();
        var counters = new Counters(connection, tx, changes);
        for (var i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            if (change.Key is { } key)
            {
                if (owners[KeyOf(change, key)] != i) continue;
                if (!claimed.Contains(KeyOf(change, key)))
                {
                    results[i] = await ReplayAsync(connection, tx, change, ct);
                    continue;
                }
            }
            results[i] = await counters.DecideAsync(change, now, ct);
            if (notices is not null && change.Operation != MeterOperations.Release && results[i].Outcome is { Status: 200 } admitted)
                await notices.RaiseAsync(connection, tx, change, admitted.Reading.Used, now, ct);
            if (notices is not null && change.Operation == MeterOperations.Consume && results[i].Outcome is { Status: 403 } denied)
                await notices.RefusedAsync(connection, tx, change, denied.Reading, now, ct);
            if (change.Key is null) continue;
            // Only what was counted is final. A refusal keeps no key: the same request retried after the reset or an
            // upgrade is decided again (and may be admitted) instead of being refused for ever.
            if (results[i].Outcome is { Status: 200 } outcome) answers.Add((change, outcome.Status, JsonSerializer.Serialize(outcome.Reading, Json)));
            else refused.Add(change);
        }

        await counters.FlushAsync(now, ct);
        await AnswerAsync(connection, tx, answers, ct);
        foreach (var change in refused)
            await connection.ExecuteAsync(new CommandDefinition(
                "delete from usage_idempotency where organization_id = @OrganizationId and metric = @metric and idempotency_key = @key",
                new { change.Scope.OrganizationId, metric = change.Scope.Metric.Name, key = change.Key }, tx, cancellationToken: ct));

        // A second request with a key already in the batch is a retry of the first: answered from the row stored
        // under the key (by this batch or an earlier one); when the first was refused no row is kept, so it gets
        // the first's refusal, or 409 when it asks for something else.
        foreach (var i in twins)
        {
            var key = KeyOf(changes[i], changes[i].Key!);
            var owner = owners[key];
            if (!claimed.Contains(key) || results[owner].Outcome is { Status: 200 })
                results[i] = await ReplayAsync(connection, tx, changes[i], ct);
            else
                results[i] = changes[owner].Operation != changes[i].Operation || changes[owner].Amount != changes[i].Amount
                    ? new UsageDecision(null, KeyReused(changes[i], changes[owner].Operation, changes[owner].Amount))
                    : results[owner];
        }
        return results;
    }

    private static ProblemException KeyReused(UsageChange change, string operation, long amount) =>
        new(409, "idempotency_key_reused",
            $"This idempotencyKey was first used to {operation} {amount} of {change.Scope.Metric.Name}; a key answers one request only.");

    private static (string, string, string) KeyOf(UsageChange change, string key) => (change.Scope.OrganizationId, change.Scope.Metric.Name, key);

    /// <summary>
    /// The counters of one batch. A counter that several changes of the batch touch is read once, locked
    /// (<c>for update</c> on PostgreSQL; SQLite's one writer already holds the database), its decisions are taken in
    /// memory in the batch's order, each against the count the one before left, and it is written once at the end:
    /// two statements per counter instead of one per change. A counter touched once, or one without a row yet, is
    /// decided by its one conditional statement as before (whose row, once written, is this transaction's until it
    /// ends, so the changes after it are decided in memory too).
    /// </summary>
    private sealed class Counters(DbConnection connection, DbTransaction tx, IReadOnlyList<UsageChange> changes)
    {
        private readonly Dictionary<(string, string, DateTimeOffset), int> touches = changes
            .GroupBy(c => KeyOf(c.Scope)).ToDictionary(g => g.Key, g => g.Count());

        private readonly Dictionary<(string, string, DateTimeOffset), State> held = new();

        private sealed class State(long used)
        {
            public long Used { get; set; } = used;
            public bool Dirty { get; set; }
        }

        private static (string, string, DateTimeOffset) KeyOf(UsageScope scope) => (scope.OrganizationId, scope.Metric.Name, scope.PeriodStart);

        public async Task<UsageDecision> DecideAsync(UsageChange change, DateTimeOffset now, CancellationToken ct)
        {
            var key = KeyOf(change.Scope);
            if (!held.TryGetValue(key, out var state) && touches[key] > 1)
            {
                var lockClause = connection is NpgsqlConnection ? "for update" : "";
                var used = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
                    $"""
                    select used from usage_counters
                    where organization_id = @OrganizationId and metric = @metric and period_start = @PeriodStart {lockClause}
                    """, new { change.Scope.OrganizationId, metric = change.Scope.Metric.Name, change.Scope.PeriodStart }, tx, cancellationToken: ct));
                if (used is { } u) held[key] = state = new State(u);
            }
            if (state is null)
            {
                var decision = await UsageDecisions.DecideAsync(connection, tx, change, now, ct);
                // Written (or refused against the latest row): this transaction now holds the row, or there is still none.
                if (touches[key] > 1 && decision.Outcome is { Status: 200 } written) held[key] = new State(written.Reading.Used);
                return decision;
            }
            return Decide(change, state);
        }

        private static UsageDecision Decide(UsageChange change, State state)
        {
            var scope = change.Scope;
            var limit = scope.IsSoft ? -1 : scope.Limit;
            switch (change.Operation)
            {
                case MeterOperations.Consume when limit >= 0 && state.Used + change.Amount > limit:
                    Denials.WithLabels(scope.Metric.Name).Inc();
                    return new UsageDecision(new MeterOutcome(403, scope.Reading(state.Used), false), null);
                case MeterOperations.Release when state.Used < change.Amount:
                    return new UsageDecision(null, ReleaseExceeds(change, state.Used));
                case MeterOperations.Release:
                    state.Used -= change.Amount;
                    break;
                default:
                    state.Used += change.Amount;
                    break;
            }
            state.Dirty = true;
            return new UsageDecision(new MeterOutcome(200, scope.Reading(state.Used), false), null);
        }

        public async Task FlushAsync(DateTimeOffset now, CancellationToken ct)
        {
            foreach (var ((organizationId, metric, periodStart), state) in held)
                if (state.Dirty)
                    await connection.ExecuteAsync(new CommandDefinition(
                        """
                        update usage_counters set used = @Used, updated_at = @now
                        where organization_id = @organizationId and metric = @metric and period_start = @periodStart
                        """, new { state.Used, now, organizationId, metric, periodStart }, tx, cancellationToken: ct));
        }
    }

    private static ProblemException ReleaseExceeds(UsageChange change, long current) =>
        new(409, "release_exceeds_usage", $"Releasing {change.Amount} of {change.Scope.Metric.Name} would go below 0: {current} is used.")
        {
            Extensions = new Dictionary<string, object?> { ["metric"] = change.Scope.Metric.Name, ["used"] = current, ["amount"] = change.Amount },
        };

    /// <summary>The decision, one statement: no row back from a consumption is a refusal, and nothing was written.</summary>
    private static async Task<UsageDecision> DecideAsync(DbConnection connection, DbTransaction tx, UsageChange change, DateTimeOffset now, CancellationToken ct)
    {
        var scope = change.Scope;
        var sql = change.Operation switch
        {
            MeterOperations.Consume => QuotaSql.Consume,
            MeterOperations.Record => QuotaSql.Add,
            _ => QuotaSql.Release,
        };
        var used = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(sql, new
        {
            scope.OrganizationId, metric = scope.Metric.Name, scope.PeriodStart, scope.PeriodEnd, amount = change.Amount,
            limit = scope.IsSoft ? -1 : scope.Limit, now,
        }, tx, cancellationToken: ct));
        if (used is { } u) return new UsageDecision(new MeterOutcome(200, scope.Reading(u), false), null);
        if (change.Operation == MeterOperations.Release)
        {
            // Releasing more than is used is a client's bookkeeping error (a double delete): refused, not clamped, so
            // it shows instead of silently hiding a count that was never made.
            return new UsageDecision(null, ReleaseExceeds(change, await UsageMeter.UsedAsync(connection, tx, scope, ct)));
        }
        Denials.WithLabels(scope.Metric.Name).Inc();
        return new UsageDecision(new MeterOutcome(403, scope.Reading(await UsageMeter.UsedAsync(connection, tx, scope, ct)), false), null);
    }

    /// <summary>
    /// Claims every key of <paramref name="owners"/> (distinct keys, in this order); answers those this transaction
    /// now owns. PostgreSQL takes them in one statement over arrays (one text, so it stays prepared whatever the
    /// batch's size); SQLite, in process, one statement per key.
    /// </summary>
    private static async Task<HashSet<(string, string, string)>> ClaimAsync(DbConnection connection, DbTransaction tx,
        IReadOnlyList<UsageChange> owners, DateTimeOffset now, CancellationToken ct)
    {
        var claimed = new HashSet<(string, string, string)>();
        if (owners.Count == 0) return claimed;
        if (connection is NpgsqlConnection)
        {
            var rows = await connection.QueryAsync<ClaimedKey>(new CommandDefinition(
                """
                insert into usage_idempotency (organization_id, metric, idempotency_key, operation, amount, period_start, status, response, created_at)
                select t.o, t.m, t.k, t.op, t.a, t.p, 0, '', @now
                from unnest(@orgs, @metrics, @keys, @operations, @amounts, @periods) with ordinality as t(o, m, k, op, a, p, n)
                order by t.n
                on conflict (organization_id, metric, idempotency_key) do nothing
                returning organization_id, metric, idempotency_key
                """, new
                {
                    now,
                    orgs = owners.Select(c => c.Scope.OrganizationId).ToArray(),
                    metrics = owners.Select(c => c.Scope.Metric.Name).ToArray(),
                    keys = owners.Select(c => c.Key!).ToArray(),
                    operations = owners.Select(c => c.Operation).ToArray(),
                    amounts = owners.Select(c => c.Amount).ToArray(),
                    periods = owners.Select(c => c.Scope.PeriodStart.ToUniversalTime()).ToArray(),
                }, tx, cancellationToken: ct));
            foreach (var row in rows) claimed.Add((row.OrganizationId, row.Metric, row.IdempotencyKey));
            return claimed;
        }
        foreach (var change in owners)
        {
            var scope = change.Scope;
            if (await connection.ExecuteAsync(new CommandDefinition(QuotaSql.ClaimKey, new
                {
                    scope.OrganizationId, metric = scope.Metric.Name, key = change.Key, operation = change.Operation, amount = change.Amount,
                    scope.PeriodStart, now,
                }, tx, cancellationToken: ct)) == 1)
                claimed.Add((scope.OrganizationId, scope.Metric.Name, change.Key!));
        }
        return claimed;
    }

    /// <summary>The answers of the keys this transaction claimed: one statement over arrays on PostgreSQL, one per key on SQLite.</summary>
    private static async Task AnswerAsync(DbConnection connection, DbTransaction tx, List<(UsageChange Change, int Status, string Response)> answers, CancellationToken ct)
    {
        if (answers.Count == 0) return;
        if (connection is NpgsqlConnection)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update usage_idempotency u set status = t.s, response = t.r
                from unnest(@orgs, @metrics, @keys, @statuses, @responses) as t(o, m, k, s, r)
                where u.organization_id = t.o and u.metric = t.m and u.idempotency_key = t.k
                """, new
                {
                    orgs = answers.Select(a => a.Change.Scope.OrganizationId).ToArray(),
                    metrics = answers.Select(a => a.Change.Scope.Metric.Name).ToArray(),
                    keys = answers.Select(a => a.Change.Key!).ToArray(),
                    statuses = answers.Select(a => a.Status).ToArray(),
                    responses = answers.Select(a => a.Response).ToArray(),
                }, tx, cancellationToken: ct));
            return;
        }
        foreach (var (change, status, response) in answers)
            await connection.ExecuteAsync(new CommandDefinition(QuotaSql.AnswerKey,
                new { change.Scope.OrganizationId, metric = change.Scope.Metric.Name, key = change.Key, status, response }, tx, cancellationToken: ct));
    }

    /// <summary>A key stored before: its first answer, counting nothing; a different operation or amount under it is 409.</summary>
    private static async Task<UsageDecision> ReplayAsync(DbConnection connection, DbTransaction tx, UsageChange change, CancellationToken ct)
    {
        var scope = change.Scope;
        var stored = await connection.QuerySingleAsync<StoredAnswer>(new CommandDefinition(
            """
            select operation, amount, status, response from usage_idempotency
            where organization_id = @OrganizationId and metric = @metric and idempotency_key = @key
            """, new { scope.OrganizationId, metric = scope.Metric.Name, key = change.Key }, tx, cancellationToken: ct));
        if (stored.Operation != change.Operation || stored.Amount != change.Amount)
            return new UsageDecision(null, KeyReused(change, stored.Operation, stored.Amount));
        return new UsageDecision(new MeterOutcome((int)stored.Status, JsonSerializer.Deserialize<UsageReading>(stored.Response, Json)!, true), null);
    }

    private sealed record ClaimedKey
    {
        public string OrganizationId { get; init; } = "";
        public string Metric { get; init; } = "";
        public string IdempotencyKey { get; init; } = "";
    }

    private sealed record StoredAnswer
    {
        public string Operation { get; init; } = "";
        public long Amount { get; init; }
        public long Status { get; init; }
        public string Response { get; init; } = "";
    }
}
