using System.Globalization;
using Backstop.Infrastructure.Audit;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Providers.Stripe;
using Dapper;
using Microsoft.Extensions.Options;
using Stripe;

namespace Backstop.Features.Billing.Reconciliation;

/// <summary>
/// Daily: pages through every Stripe subscription (<c>GET /v1/subscriptions?status=all&amp;limit=100</c>) and compares
/// status, price, period end and the cancel flag with the local row. Every difference is a row in
/// <c>billing_discrepancies</c> and a warning. A local <c>suspended</c> matches Stripe's <c>past_due</c> and <c>unpaid</c>
/// (suspension is Backstop's own decision). Also reported: a live local Stripe subscription Stripe does not list, and a
/// live Stripe subscription of one of our organizations (its metadata) that has no local row.
/// Under <c>Billing:Reconcile = repair</c> the local row takes Stripe's values (one conditional update per drifted
/// subscription, applied only if no webhook updated the row since the page was read; audited).
/// </summary>
internal sealed class ReconciliationJob(
    Db db,
    StripeApi api,
    TimeProvider time,
    IOptions<BillingOptions> options,
    IAuditLog audit,
    JobContext context,
    ILogger<ReconciliationJob> log) : IRecurringJob
{
    public static string Id => "billing-reconciliation";
    public static string DefaultCron => "30 3 * * *";

    private const int PageSize = 100;

    private sealed record Local
    {
        public string Id { get; init; } = "";
        public string OrganizationId { get; init; } = "";
        public string PlanCode { get; init; } = "";
        public string ProviderSubscriptionId { get; init; } = "";
        public string? ProviderPriceId { get; init; }
        public string Status { get; init; } = "";
        public DateTimeOffset? CurrentPeriodEnd { get; init; }
        public bool CancelAtPeriodEnd { get; init; }
    }

    private sealed record Difference(string? OrganizationId, string SubscriptionId, string Field, string? Ours, string? Stripe);

    public async Task<long> RunAsync(CancellationToken ct)
    {
        if (!api.Configured)
        {
            log.LogInformation("Billing reconciliation skipped: Stripe:ApiKey is not set");
            return 0;
        }
        var repair = options.Value.Repair;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long found = 0;
        string? after = null;
        var complete = false;
        while (!context.Stop.IsCancellationRequested)
        {
            var listedAt = time.GetUtcNow();
            var page = await new SubscriptionService(api.Client).ListAsync(
                new SubscriptionListOptions { Status = "all", Limit = PageSize, StartingAfter = after }, null, ct);
            if (page.Data.Count > 0)
            {
                found += await CompareAsync(page.Data, listedAt, repair, ct);
                foreach (var s in page.Data) seen.Add(s.Id);
                after = page.Data[^1].Id;
            }
            if (!page.HasMore || page.Data.Count == 0)
            {
                complete = true;
                break;
            }
        }
        // Only a listing that went to its end can tell that Stripe lacks a subscription.
        if (complete) found += await MissingAtStripeAsync(seen, ct);
        return found;
    }

    private async Task<long> CompareAsync(IReadOnlyList<Subscription> page, DateTimeOffset listedAt, bool repair, CancellationToken ct)
    {
        List<Local> locals;
        // Npgsql binds an array as one parameter; Dapper expands "in @ids" into a list for SQLite.
        var idIn = db.Dialect == Dialect.Postgres ? "provider_subscription_id = any(@ids)" : "provider_subscription_id in @ids";
        await using (var connection = await db.OpenAsync(ct))
            locals = (await connection.QueryAsync<Local>(new CommandDefinition(
                $"""
                select id, organization_id, plan_code, provider_subscription_id, provider_price_id, status, current_period_end, cancel_at_period_end
                from subscriptions
                where provider = 'stripe' and {idIn}
                """, new { ids = page.Select(s => s.Id).ToArray() }, cancellationToken: ct))).ToList();
        var byId = locals.ToDictionary(l => l.ProviderSubscriptionId, StringComparer.Ordinal);
        long found = 0;
        foreach (var stripe in page)
        {
            var item = stripe.Items?.Data?.FirstOrDefault();
            var stripePrice = item?.Price?.Id;
            DateTimeOffset? stripeEnd = item is null ? null : new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodEnd, DateTimeKind.Utc));
            if (!byId.TryGetValue(stripe.Id, out var ours))
            {
                if (stripe.Metadata?.GetValueOrDefault("organization_id") is { } org && SubscriptionStatus.IsLive(stripe.Status))
                {
                    await RecordAsync([new Difference(org, stripe.Id, "subscription", null, stripe.Status)], false, ct);
                    found++;
                }
                continue;
            }
            var differences = new List<Difference>();
            if (!SameStatus(ours.Status, stripe.Status)) differences.Add(new(ours.OrganizationId, stripe.Id, "status", ours.Status, stripe.Status));
            if (ours.ProviderPriceId != stripePrice) differences.Add(new(ours.OrganizationId, stripe.Id, "price", ours.ProviderPriceId, stripePrice));
            if (Seconds(ours.CurrentPeriodEnd) != Seconds(stripeEnd))
                differences.Add(new(ours.OrganizationId, stripe.Id, "current_period_end", Text(ours.CurrentPeriodEnd), Text(stripeEnd)));
            if (ours.CancelAtPeriodEnd != stripe.CancelAtPeriodEnd)
                differences.Add(new(ours.OrganizationId, stripe.Id, "cancel_at_period_end", Bool(ours.CancelAtPeriodEnd), Bool(stripe.CancelAtPeriodEnd)));
            if (differences.Count == 0) continue;
            var repaired = repair && await RepairAsync(ours, stripe, stripePrice, item, listedAt, differences, ct);
            await RecordAsync(differences, repaired, ct);
            found += differences.Count;
        }
        return found;
    }

    private async Task<long> MissingAtStripeAsync(HashSet<string> seen, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var live = (await connection.QueryAsync<Local>(new CommandDefinition(
            """
            select id, organization_id, plan_code, provider_subscription_id, provider_price_id, status, current_period_end, cancel_at_period_end
            from subscriptions
            where provider = 'stripe' and provider_subscription_id is not null
              and status in ('trialing', 'active', 'past_due', 'suspended', 'unpaid', 'paused')
            """, cancellationToken: ct))).ToList();
        var missing = live.Where(l => !seen.Contains(l.ProviderSubscriptionId))
            .Select(l => new Difference(l.OrganizationId, l.ProviderSubscriptionId, "subscription", l.Status, null)).ToList();
        if (missing.Count > 0) await RecordAsync(missing, false, ct);
        return missing.Count;
    }

    private async Task<bool> RepairAsync(Local ours, Subscription stripe, string? stripePrice, SubscriptionItem? item, DateTimeOffset listedAt,
        IReadOnlyList<Difference> differences, CancellationToken ct) =>
        await db.InTransactionAsync(async (c, tx) =>
        {
            var plan = stripePrice is null ? null : await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "select code from plans where stripe_price_id = @stripePrice", new { stripePrice }, tx, cancellationToken: ct));
            // Not applied when a webhook stored a newer state after the page was read.
            var repaired = await c.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions
                set status = case when status = 'suspended' and @status in ('past_due', 'unpaid') then 'suspended' else @status end,
                    plan_code = coalesce(@plan, plan_code), provider_price_id = @stripePrice,
                    current_period_start = @start, current_period_end = @end, cancel_at_period_end = @cancel,
                    provider_updated_at = @listedAt, updated_at = @now
                where id = @Id and (provider_updated_at is null or provider_updated_at <= @listedAt)
                """,
                new
                {
                    ours.Id, status = stripe.Status, plan, stripePrice,
                    start = item is null ? (DateTimeOffset?)null : new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodStart, DateTimeKind.Utc)),
                    end = item is null ? (DateTimeOffset?)null : new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodEnd, DateTimeKind.Utc)),
                    cancel = stripe.CancelAtPeriodEnd, listedAt, now = time.GetUtcNow(),
                }, tx, cancellationToken: ct)) == 1;
            if (repaired)
                await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SubscriptionRepair, "subscription", ours.Id, ours.OrganizationId,
                    differences.ToDictionary(d => d.Field, d => (object?)new { from = d.Ours, to = d.Stripe }), "system"), ct);
            return repaired;
        }, ct);

    private async Task RecordAsync(IReadOnlyList<Difference> differences, bool repaired, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (c, tx) =>
        {
            foreach (var d in differences)
                await c.ExecuteAsync(new CommandDefinition(
                    """
                    insert into billing_discrepancies (id, organization_id, provider_subscription_id, field, ours, stripe, found_at, repaired, created_at, updated_at)
                    values (@id, @OrganizationId, @SubscriptionId, @Field, @Ours, @Stripe, @now, @repaired, @now, @now)
                    """, new { id = Ids.New(time), d.OrganizationId, d.SubscriptionId, d.Field, d.Ours, d.Stripe, now, repaired }, tx, cancellationToken: ct));
        }, ct);
        foreach (var d in differences)
            log.LogWarning("Billing reconciliation: subscription {SubscriptionId} of organization {OrganizationId} differs in {Field}: ours {Ours}, Stripe {Stripe}{Repaired}",
                d.SubscriptionId, d.OrganizationId, d.Field, d.Ours ?? "(none)", d.Stripe ?? "(none)", repaired ? " (repaired)" : "");
    }

    private static bool SameStatus(string ours, string stripe) =>
        ours == stripe || (ours == SubscriptionStatus.Suspended && stripe is SubscriptionStatus.PastDue or SubscriptionStatus.Unpaid);

    private static long? Seconds(DateTimeOffset? t) => t?.ToUnixTimeSeconds();

    private static string? Text(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Bool(bool b) => b ? "true" : "false";
}
