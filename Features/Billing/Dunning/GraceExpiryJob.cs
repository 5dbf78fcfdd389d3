using System.Globalization;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Jobs;
using Prometheus;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Hourly: past-due subscriptions whose grace ended (<c>grace_ends_at &lt;= now</c>) become <c>suspended</c>, and
/// their owners get a notice (<c>suspended:{subscription}:{grace end}:{recipient}</c>) in the same transaction.
/// Idempotent: a suspended subscription no longer matches, and the notice's key is stored once.
/// </summary>
/// <remarks>
/// A batch is one transaction of one conditional update (<see cref="DunningSql.SuspendBatch"/>: the page by id after
/// a cursor that only moves past failed rows, rows a webhook holds skipped on PostgreSQL), one owners lookup per organization of the batch and one
/// multi-row outbox insert. A payment that commits first makes its row drop out of the update; one that commits
/// after finds <c>suspended</c> and makes it active again. When a batch fails, its page is tried row by row, so one
/// bad row is logged with its id and the rest are suspended; the cursor moves past the page either way. The
/// lease (the job runner's) keeps two instances from sweeping at once; <see cref="JobContext.Stop"/> ends the run
/// between batches when it is lost.
/// </remarks>
internal sealed class GraceExpiryJob(
    Db db,
    BillingNotices notices,
    BillingEvents billingEvents,
    TimeProvider time,
    IOptions<BillingOptions> options,
    JobContext context,
    ILogger<GraceExpiryJob> log) : IRecurringJob, IReportsCounts
{
    /// <summary>Small enough that a batch's transaction (and SQLite's write lock) is short; an hourly run rarely has more.</summary>
    internal const int BatchSize = 200;

    private static readonly Counter Suspended = Metrics.CreateCounter(
        "backstop_billing_subscriptions_suspended_total", "Past-due subscriptions suspended after their grace period.");

    private long suspended;
    private long failed;
    private long batches;
    private long notified;

    public static string Id => "billing-grace-expiry";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "0 * * * *";

    public IReadOnlyDictionary<string, long> Counts => new Dictionary<string, long>
    {
        ["suspended"] = suspended, ["failed"] = failed, ["notices"] = notified, ["batches"] = batches,
    };

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var after = "";
        while (!context.Stop.IsCancellationRequested)
        {
            batches++;
            IReadOnlyList<SuspendedSubscription> done;
            try
            {
                done = await SuspendAsync(DunningSql.SuspendBatch(db.Dialect), new { now, after, batchSize = BatchSize }, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                log.LogWarning(e, "A batch of the grace expiry failed; trying its subscriptions one by one");
                List<string> page;
                await using (var connection = await db.OpenAsync(ct))
                    page = (await connection.QueryAsync<string>(new CommandDefinition(DunningSql.ExpiredPage,
                        new { now, after, batchSize = BatchSize }, cancellationToken: ct))).AsList();
                foreach (var id in page)
                {
                    try
                    {
                        await SuspendAsync(DunningSql.SuspendOne, new { now, id }, ct);
                    }
                    catch (Exception one) when (!ct.IsCancellationRequested)
                    {
                        failed++;
                        log.LogError(one, "Could not suspend subscription {SubscriptionId} after its grace period; the next run tries again", id);
                    }
                }
                if (page.Count < BatchSize) break;
                after = page[^1];
                continue;
            }
            // Suspended rows drop out of the next batch by their status, so success needs no cursor; the cursor only
            // steps past a page whose rows failed (ordered by the database's own collation, never compared here).
            if (done.Count < BatchSize) break;
        }
        return suspended;
    }

    private async Task<IReadOnlyList<SuspendedSubscription>> SuspendAsync(string sql, object parameters, CancellationToken ct)
    {
        var (rows, sent) = await db.InTransactionAsync(async (connection, tx) =>
        {
            var rows = (await connection.QueryAsync<SuspendedSubscription>(new CommandDefinition(sql, parameters, tx, cancellationToken: ct))).AsList();
            var messages = new List<OutboxEnvelope>();
            var updateUrl = InvoicePaymentFailed.UpdateUrl(options.Value);
            var owners = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var s in rows)
            {
                if (!owners.TryGetValue(s.OrganizationId, out var emails))
                    owners[s.OrganizationId] = emails = await notices.OwnersAsync(connection, tx, s.OrganizationId, ct);
                var key = $"suspended:{s.Id}:{s.GraceEndsAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}";
                messages.AddRange(BillingNotices.To(emails, key, DunningEmails.Suspended(s.GraceEndsAt, updateUrl), s.Id));
                await billingEvents.SubscriptionAsync(connection, tx, EventTypes.SubscriptionSuspended, s.OrganizationId, ct);
            }
            return (rows, await notices.EnqueueAsync(connection, tx, messages, ct));
        }, ct);
        // Counted once committed: a rolled-back batch suspended nothing.
        suspended += rows.Count;
        notified += sent;
        if (rows.Count > 0) Suspended.Inc(rows.Count);
        if (rows.Count > 0) log.LogWarning("Suspended {Count} past-due subscriptions whose grace period ended", rows.Count);
        foreach (var s in rows)
            log.LogInformation("Subscription {SubscriptionId} of organization {OrganizationId} suspended: its grace period ended at {GraceEndsAt}",
                s.Id, s.OrganizationId, s.GraceEndsAt);
        return rows;
    }
}
