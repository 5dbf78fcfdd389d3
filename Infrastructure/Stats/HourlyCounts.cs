using System.Globalization;
using System.Text;

namespace Backstop.Infrastructure.Stats;

/// <summary>One increment: <paramref name="N"/> more of (kind, subject, outcome) in the current hour.</summary>
internal sealed record HourlyIncrement(string Kind, string Subject, string Outcome, long N = 1);

/// <summary>One hour's count of (kind, subject, outcome), summed over the shards.</summary>
/// <param name="Hour">The start of the hour (UTC).</param>
/// <param name="Kind"><c>webhook</c>, <c>outbox</c> or <c>event_delivery</c>.</param>
/// <param name="Key">What it is about: a provider (webhook), a channel (outbox), <c>all</c> (event_delivery).</param>
public sealed record HourlyCount(DateTimeOffset Hour, string Kind, string Key, string Outcome, long Count);

/// <summary>
/// The hourly counts table (<c>hourly_counts</c>, migration 0900). Writers call <see cref="AddAsync"/> on the
/// transaction they already run, so a count commits exactly when what it counts commits, and costs one statement
/// per transaction, never a transaction of its own.
/// </summary>
internal sealed class HourlyCounts(Db db, TimeProvider time) : IHourlyStats
{
    /// <summary>Rows older than this are deleted by the <c>job-runs-retention</c> sweep.</summary>
    public const int RetentionDays = 30;

    /// <summary>Writers of one row spread over this many shards (see the migration).</summary>
    public const int Shards = 8;

    public static DateTimeOffset HourOf(DateTimeOffset t)
    {
        var utc = t.ToUniversalTime();
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero);
    }

    /// <summary>
    /// Adds the increments to the hour of <paramref name="now"/> in the caller's transaction: one multi-row upsert.
    /// Equal (kind, subject, outcome) are folded first (PostgreSQL refuses to update one row twice in a statement),
    /// and rows go in a fixed order, so two writers lock shared rows in the same order and cannot deadlock.
    /// </summary>
    public static async Task AddAsync(DbConnection connection, DbTransaction tx, DateTimeOffset now, IEnumerable<HourlyIncrement> increments,
        CancellationToken ct, int? shard = null)
    {
        var folded = increments
            .Where(i => i.N != 0)
            .GroupBy(i => (i.Kind, i.Subject, i.Outcome))
            .Select(g => (g.Key.Kind, g.Key.Subject, g.Key.Outcome, N: g.Sum(i => i.N)))
            .OrderBy(r => r.Kind, StringComparer.Ordinal).ThenBy(r => r.Subject, StringComparer.Ordinal).ThenBy(r => r.Outcome, StringComparer.Ordinal)
            .ToList();
        if (folded.Count == 0) return;
        var parameters = new DynamicParameters();
        parameters.Add("hour", HourOf(now));
        parameters.Add("now", now);
        parameters.Add("shard", shard ?? Random.Shared.Next(Shards));
        var values = new StringBuilder();
        for (var i = 0; i < folded.Count; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            parameters.Add("k" + n, folded[i].Kind);
            parameters.Add("s" + n, folded[i].Subject);
            parameters.Add("o" + n, folded[i].Outcome);
            parameters.Add("n" + n, folded[i].N);
            values.Append(i == 0 ? "" : ", ").Append($"(@hour, @k{n}, @s{n}, @o{n}, @shard, @n{n}, @now, @now)");
        }
        await connection.ExecuteAsync(new CommandDefinition(
            $"""
            insert into hourly_counts (hour, kind, subject, outcome, shard, n, created_at, updated_at)
            values {values}
            on conflict (hour, kind, subject, outcome, shard) do update
            set n = hourly_counts.n + excluded.n, updated_at = excluded.updated_at
            """, parameters, tx, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<HourlyCount>> ReadAsync(DateTimeOffset since, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            """
            select hour, kind, subject, outcome, sum(n) as n
            from hourly_counts
            where hour >= @since and hour <= @until
            group by hour, kind, subject, outcome
            order by hour, kind, subject, outcome
            """, new { since = HourOf(since), until = HourOf(time.GetUtcNow()) }, cancellationToken: ct));
        return rows.Select(r => new HourlyCount(r.Hour, r.Kind, r.Subject, r.Outcome, r.N)).ToList();
    }

    /// <summary>Deletes the counts of hours older than <see cref="RetentionDays"/>, a few hours' rows per statement.</summary>
    public static Task<long> PruneAsync(Db db, DateTimeOffset now, CancellationToken stop, CancellationToken ct) =>
        // The batch is a list of (repeated) hours: each statement deletes every row of at most batchSize hours, so
        // it deletes fewer rows than batchSize only when fewer were left.
        db.DeleteInBatchesAsync(
            """
            delete from hourly_counts
            where hour < @cutoff and hour in (select hour from hourly_counts where hour < @cutoff order by hour limit @batchSize)
            """, new { cutoff = HourOf(now).AddDays(-RetentionDays) }, 1000, stop, ct);

    private sealed class Row
    {
        public DateTimeOffset Hour { get; init; }
        public string Kind { get; init; } = "";
        public string Subject { get; init; } = "";
        public string Outcome { get; init; } = "";
        public long N { get; init; }
    }
}
