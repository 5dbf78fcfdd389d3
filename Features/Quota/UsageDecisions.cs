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
/// <item>Every idempotency key of the batch is looked up first, with its stored answer. On PostgreSQL each key is
/// locked first (a transaction-scoped advisory lock on a hash of the key, taken in one order on every instance), so
/// a concurrent duplicate on another instance waits until the first transaction ends and then finds its row; on
/// SQLite the writer lock (<c>BEGIN IMMEDIATE</c>) already serialises them. Keys before counters, always: two
/// batches then take their locks in the same order and cannot deadlock on a key one holds and a counter the other holds.</item>
/// <item>Each change is decided in the batch's order; a key that was already stored is answered from its stored
/// columns instead (status, used, limit, period), counting nothing.</item>
/// <item>Each counted change's key is written once, with its answer in typed columns, in the same transaction as
/// its count. A refusal writes nothing: retried with the same key it is decided again.</item>
/// <item>A second request with a key already in the batch is a retry of the first: it gets the first's answer (or
/// 409 <c>idempotency_key_reused</c> for a different operation or amount).</item>
/// </list>
/// A database error is thrown and leaves the transaction to be rolled back; a refusal of one request (409) is its
/// own <see cref="UsageDecision.Problem"/> and does not touch its neighbours.
/// </summary>
internal static class UsageDecisions
{
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

        var stored = await LookupAsync(connection, tx, [.. owners.Values.Select(i => changes[i])], ct);

        var answers = new List<(UsageChange Change, MeterOutcome Outcome)>();
        var counters = new Counters(connection, tx, changes);
        var decided = new List<int>(changes.Count);
        // On PostgreSQL the conditional statements of counters the batch touches once are pipelined: sent together in
        // one round trip (still one statement per counter, run in the batch's order), flushed before any counter the
        // batch touches more than once, so counters are still locked in the batch's order.
        var pipelined = new List<int>();
        for (var i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            if (change.Key is { } key)
            {
                if (owners[KeyOf(change, key)] != i) continue;
                if (stored.TryGetValue(KeyOf(change, key), out var answer))
                {
                    results[i] = Replay(change, answer);
                    continue;
                }
            }
            decided.Add(i);
            if (DialectSql.Of(connection) == Dialect.Postgres && counters.TouchedOnce(change))
            {
                pipelined.Add(i);
                continue;
            }
            await PipelineAsync(connection, tx, changes, pipelined, results, now, ct);
            results[i] = await counters.DecideAsync(change, now, ct);
        }
        await PipelineAsync(connection, tx, changes, pipelined, results, now, ct);

        foreach (var i in decided)
        {
            var change = changes[i];
            if (notices is not null && change.Operation != MeterOperations.Release && results[i].Outcome is { Status: 200 } admitted)
                await notices.RaiseAsync(connection, tx, change, admitted.Reading.Used, now, ct);
            if (notices is not null && change.Operation == MeterOperations.Consume && results[i].Outcome is { Status: 403 } denied)
                await notices.RefusedAsync(connection, tx, change, denied.Reading, now, ct);
            // Only what was counted is final. A refusal keeps no key: the same request retried after the reset or an
            // upgrade is decided again (and may be admitted) instead of being refused for ever.
            if (change.Key is not null && results[i].Outcome is { Status: 200 } outcome) answers.Add((change, outcome));
        }

        await counters.FlushAsync(now, ct);
        await AnswerAsync(connection, tx, answers, now, ct);

        // A second request with a key already in the batch is a retry of the first: the answer stored under the key
        // (by an earlier transaction, or the first's own, just written); when the first was refused nothing is
        // kept, so it gets the first's refusal, or 409 when it asks for something else.
        foreach (var i in twins)
        {
            var change = changes[i];
            var key = KeyOf(change, change.Key!);
            var owner = owners[key];
            if (stored.TryGetValue(key, out var answer))
                results[i] = Replay(change, answer);
            else if (changes[owner].Operation != change.Operation || changes[owner].Amount != change.Amount)
                results[i] = new UsageDecision(null, KeyReused(change, changes[owner].Operation, changes[owner].Amount));
            else
                results[i] = results[owner].Outcome is { Status: 200 } first ? new UsageDecision(first with { Replayed = true }, null) : results[owner];
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

        /// <summary>Whether <paramref name="change"/> is the batch's only change of its counter (decided by its one statement, never held).</summary>
        public bool TouchedOnce(UsageChange change) => touches[KeyOf(change.Scope)] == 1;

        private static (string, string, DateTimeOffset) KeyOf(UsageScope scope) => (scope.OrganizationId, scope.Metric.Name, scope.PeriodStart);

        public async Task<UsageDecision> DecideAsync(UsageChange change, DateTimeOffset now, CancellationToken ct)
        {
            var key = KeyOf(change.Scope);
            if (!held.TryGetValue(key, out var state) && touches[key] > 1)
            {
                var lockClause = DialectSql.Of(connection).ForUpdate();
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

    /// <summary>
    /// The decisions of <paramref name="pending"/> (PostgreSQL, counters the batch touches once): each its one
    /// conditional statement, as <see cref="DecideAsync(DbConnection, DbTransaction, UsageChange, DateTimeOffset, CancellationToken)"/>
    /// runs it, all sent in one <see cref="DbBatch"/> (one round trip; the server runs them one after the other in
    /// the transaction, each deciding its own counter under its row lock, so admission is exactly as race-free). A
    /// refusal then reads its counter for its answer, as the single path does. Empties <paramref name="pending"/>.
    /// </summary>
    private static async Task PipelineAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<UsageChange> changes, List<int> pending,
        UsageDecision[] results, DateTimeOffset now, CancellationToken ct)
    {
        if (pending.Count == 0) return;
        if (pending.Count == 1)
        {
            results[pending[0]] = await DecideAsync(connection, tx, changes[pending[0]], now, ct);
            pending.Clear();
            return;
        }
        var used = new long?[pending.Count];
        await using (var batch = connection.CreateBatch())
        {
            batch.Transaction = tx;
            foreach (var i in pending) batch.BatchCommands.Add(PipelinedCommand(batch, changes[i], now));
            await using var reader = await batch.ExecuteReaderAsync(ct);
            for (var n = 0; n < pending.Count; n++)
            {
                if (n > 0 && !await reader.NextResultAsync(ct)) throw new InvalidOperationException("A pipelined usage statement returned no result.");
                if (await reader.ReadAsync(ct)) used[n] = reader.GetInt64(0);
            }
        }
        for (var n = 0; n < pending.Count; n++) results[pending[n]] = await DecidedAsync(connection, tx, changes[pending[n]], used[n], ct);
        pending.Clear();
    }

    /// <summary><see cref="QuotaSql.Consume"/>, <see cref="QuotaSql.Add"/> and <see cref="QuotaSql.Release"/> with PostgreSQL's positional parameters (a batch command takes no names).</summary>
    private static DbBatchCommand PipelinedCommand(DbBatch batch, UsageChange change, DateTimeOffset now)
    {
        var scope = change.Scope;
        var command = batch.CreateBatchCommand();
        command.CommandText = change.Operation switch
        {
            MeterOperations.Consume =>
                """
                insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
                select $1, $2, $3, $4, $5, $7, $7
                where $6 < 0 or $5 <= $6
                on conflict (organization_id, metric, period_start) do update
                    set used = usage_counters.used + excluded.used, updated_at = excluded.updated_at
                    where $6 < 0 or usage_counters.used + excluded.used <= $6
                returning used
                """,
            MeterOperations.Record =>
                """
                insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
                values ($1, $2, $3, $4, $5, $6, $6)
                on conflict (organization_id, metric, period_start) do update
                    set used = usage_counters.used + excluded.used, updated_at = excluded.updated_at
                returning used
                """,
            _ =>
                """
                update usage_counters set used = used - $4, updated_at = $5
                where organization_id = $1 and metric = $2 and period_start = $3 and used >= $4
                returning used
                """,
        };
        object[] values = change.Operation switch
        {
            MeterOperations.Consume =>
            [
                scope.OrganizationId, scope.Metric.Name, scope.PeriodStart.ToUniversalTime(), scope.PeriodEnd.ToUniversalTime(), change.Amount,
                scope.IsSoft ? -1L : scope.Limit, now.ToUniversalTime(),
            ],
            MeterOperations.Record =>
                [scope.OrganizationId, scope.Metric.Name, scope.PeriodStart.ToUniversalTime(), scope.PeriodEnd.ToUniversalTime(), change.Amount, now.ToUniversalTime()],
            _ => [scope.OrganizationId, scope.Metric.Name, scope.PeriodStart.ToUniversalTime(), change.Amount, now.ToUniversalTime()],
        };
        foreach (var value in values)
        {
            var parameter = command.CreateParameter();
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

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
        return await DecidedAsync(connection, tx, change, used, ct);
    }

    /// <summary>The decision from what the change's statement returned: the count, or no row (refused, nothing written).</summary>
    private static async Task<UsageDecision> DecidedAsync(DbConnection connection, DbTransaction tx, UsageChange change, long? used, CancellationToken ct)
    {
        var scope = change.Scope;
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

    /// <summary>The advisory-lock space of usage keys (the two-integer form: it never meets the migrator's one-bigint lock).</summary>
    private const int KeyLockSpace = 0x55534B59;

    /// <summary>
    /// The stored answers of the batch's keys (distinct keys). On PostgreSQL every key is locked first, in the order of
    /// its hash on every instance, then the answers are read in a statement of their own (whose snapshot, under read
    /// committed, sees what a transaction that held a lock committed); one statement each over arrays, so they stay
    /// prepared whatever the batch's size, both sent in one round trip. On SQLite, in process under the writer lock, one read per key.
    /// </summary>
    private static async Task<Dictionary<(string, string, string), StoredAnswer>> LookupAsync(DbConnection connection, DbTransaction tx,
        IReadOnlyList<UsageChange> keyed, CancellationToken ct)
    {
        var stored = new Dictionary<(string, string, string), StoredAnswer>();
        if (keyed.Count == 0) return stored;
        if (DialectSql.Of(connection) == Dialect.Postgres)
        {
            var hashes = keyed.Select(c => KeyHash(c.Scope.OrganizationId, c.Scope.Metric.Name, c.Key!)).Distinct().Order().ToArray();
            // Two statements, sent together (one round trip): the server runs the second after the first returned,
            // with a snapshot of its own. The count keeps the locks' (void) results off the wire; a volatile
            // function in a subquery's output is always evaluated.
            await using var grid = await connection.QueryMultipleAsync(new CommandDefinition(
                $"""
                select count(*) from (select pg_advisory_xact_lock(@space, t.h) from unnest(@hashes) with ordinality as t(h, n) order by t.n) l;
                select {StoredAnswer.Columns} from usage_idempotency i
                join unnest(@orgs, @metrics, @keys) as t(o, m, k) on i.organization_id = t.o and i.metric = t.m and i.idempotency_key = t.k
                """, new
                {
                    space = KeyLockSpace,
                    hashes,
                    orgs = keyed.Select(c => c.Scope.OrganizationId).ToArray(),
                    metrics = keyed.Select(c => c.Scope.Metric.Name).ToArray(),
                    keys = keyed.Select(c => c.Key!).ToArray(),
                }, tx, cancellationToken: ct));
            if (await grid.ReadSingleAsync<long>() != hashes.Length) throw new InvalidOperationException("Not every usage key was locked.");
            var rows = await grid.ReadAsync<StoredAnswer>();
            foreach (var row in rows) stored[(row.OrganizationId, row.Metric, row.IdempotencyKey)] = row;
            return stored;
        }
        foreach (var change in keyed)
        {
            var row = await StoredAnswer.ReadAsync(connection, tx, change.Scope.OrganizationId, change.Scope.Metric.Name, change.Key!, ct);
            if (row is not null) stored[(row.OrganizationId, row.Metric, row.IdempotencyKey)] = row;
        }
        return stored;
    }

    /// <summary>A stable 32-bit hash of a key (FNV-1a over its UTF-16 units): the same on every instance and every run.</summary>
    internal static int KeyHash(string organizationId, string metric, string key)
    {
        var hash = 2166136261u;
        foreach (var part in (ReadOnlySpan<string>)[organizationId, metric, key])
        {
            foreach (var c in part) hash = (hash ^ c) * 16777619u;
            hash = (hash ^ 0x1F) * 16777619u;
        }
        return unchecked((int)hash);
    }

    /// <summary>The keys of the counted changes, each written once with its answer: one statement over arrays on PostgreSQL, one per key on SQLite.</summary>
    private static async Task AnswerAsync(DbConnection connection, DbTransaction tx, List<(UsageChange Change, MeterOutcome Outcome)> answers,
        DateTimeOffset now, CancellationToken ct)
    {
        if (answers.Count == 0) return;
        if (DialectSql.Of(connection) == Dialect.Postgres)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into usage_idempotency
                    (organization_id, metric, idempotency_key, operation, amount, status, used, limit_value, period_start, period_end, created_at)
                select t.o, t.m, t.k, t.op, t.a, t.s, t.u, t.l, t.ps, t.pe, @now
                from unnest(@orgs, @metrics, @keys, @operations, @amounts, @statuses, @used, @limits, @starts, @ends)
                    as t(o, m, k, op, a, s, u, l, ps, pe)
                """, new
                {
                    now,
                    orgs = answers.Select(a => a.Change.Scope.OrganizationId).ToArray(),
                    metrics = answers.Select(a => a.Change.Scope.Metric.Name).ToArray(),
                    keys = answers.Select(a => a.Change.Key!).ToArray(),
                    operations = answers.Select(a => a.Change.Operation).ToArray(),
                    amounts = answers.Select(a => a.Change.Amount).ToArray(),
                    statuses = answers.Select(a => a.Outcome.Status).ToArray(),
                    used = answers.Select(a => a.Outcome.Reading.Used).ToArray(),
                    limits = answers.Select(a => a.Outcome.Reading.Limit).ToArray(),
                    starts = answers.Select(a => a.Change.Scope.PeriodStart.ToUniversalTime()).ToArray(),
                    ends = answers.Select(a => a.Change.Scope.PeriodEnd.ToUniversalTime()).ToArray(),
                }, tx, cancellationToken: ct));
            return;
        }
        foreach (var (change, outcome) in answers)
            await connection.ExecuteAsync(new CommandDefinition(QuotaSql.StoreAnswer, new
            {
                change.Scope.OrganizationId, metric = change.Scope.Metric.Name, key = change.Key, operation = change.Operation, amount = change.Amount,
                status = outcome.Status, used = outcome.Reading.Used, limit = outcome.Reading.Limit, change.Scope.PeriodStart, change.Scope.PeriodEnd, now,
            }, tx, cancellationToken: ct));
    }

    /// <summary>A key stored before: its first answer, from its columns, counting nothing; a different operation or amount under it is 409.</summary>
    private static UsageDecision Replay(UsageChange change, StoredAnswer stored) =>
        stored.Operation != change.Operation || stored.Amount != change.Amount
            ? new UsageDecision(null, KeyReused(change, stored.Operation, stored.Amount))
            : new UsageDecision(new MeterOutcome((int)stored.Status, stored.Reading(), true), null);
}

/// <summary>
/// An idempotency key's row: the request it answered (operation, amount) and its answer in typed columns (status,
/// used, limit, period), from which the reading the first request got is rebuilt (remaining and overage follow from
/// used and limit; a gauge's row has the fixed 1970-01-01 period, and its reading none).
/// </summary>
internal sealed record StoredAnswer
{
    public const string Columns =
        "i.organization_id, i.metric, i.idempotency_key, i.operation, i.amount, i.status, i.used, i.limit_value, i.period_start, i.period_end";

    public string OrganizationId { get; init; } = "";
    public string Metric { get; init; } = "";
    public string IdempotencyKey { get; init; } = "";
    public string Operation { get; init; } = "";
    public long Amount { get; init; }
    public long Status { get; init; }
    public long Used { get; init; }
    public long LimitValue { get; init; }
    public DateTimeOffset PeriodStart { get; init; }
    public DateTimeOffset PeriodEnd { get; init; }

    public bool IsGauge => PeriodStart == BillingPeriods.GaugeStart;

    public UsageReading Reading() => new(Metric, IsGauge ? "gauge" : "counter", Used, LimitValue,
        LimitValue < 0 ? null : Math.Max(LimitValue - Used, 0), IsGauge ? null : PeriodStart, IsGauge ? null : PeriodEnd)
    {
        Overage = LimitValue < 0 ? 0 : Math.Max(Used - LimitValue, 0),
    };

    public static Task<StoredAnswer?> ReadAsync(DbConnection connection, DbTransaction tx, string organizationId, string metric, string key, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<StoredAnswer>(new CommandDefinition(
            $"""
            select {Columns} from usage_idempotency i
            where i.organization_id = @organizationId and i.metric = @metric and i.idempotency_key = @key
            """, new { organizationId, metric, key }, tx, cancellationToken: ct));
}
