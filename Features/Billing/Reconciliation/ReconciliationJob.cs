using System.Globalization;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Providers.Stripe;
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
    Discrepancies discrepancies,
    Subscriptions.SubscriptionOwnership ownership,
    PlanChanges.PlanInForce planInForce,
    IOutbox outbox,
    ILogger<ReconciliationJob> log,
    BillingEvents billingEvents) : IRecurringJob
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
        var startedAt = time.GetUtcNow();
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
        await DigestAsync(startedAt, ct);
        return found;
    }

    /// <summary>
    /// One email a day to <c>Billing:AlertEmail</c> listing the open discrepancies this run saw (new or still there);
    /// keyed by the day, so a second run the same day sends nothing more. Nothing found, nothing sent.
    /// </summary>
    private async Task DigestAsync(DateTimeOffset startedAt, CancellationToken ct)
    {
        var to = options.Value.AlertEmail?.Trim();
        if (string.IsNullOrEmpty(to)) return;
        await db.InTransactionAsync(async (c, tx) =>
        {
            var open = (await c.QueryAsync<(string Provider, string SubscriptionId, string? OrganizationId, string Field, string? Ours, string? Stripe, bool Repaired)>(
                new CommandDefinition(
                    """
                    select provider, provider_subscription_id, organization_id, field, ours, stripe, repaired from billing_discrepancies
                    where not resolved and last_seen_at >= @startedAt
                    order by provider_subscription_id, field
                    """, new { startedAt }, tx, cancellationToken: ct))).ToList();
            if (open.Count == 0) return;
            var lines = open.Select(d => $"{d.Provider} {d.SubscriptionId} (organization {d.OrganizationId ?? "none"}): {d.Field} ours {d.Ours ?? "(none)"}, provider {d.Stripe ?? "(none)"}{(d.Repaired ? " - repaired" : "")}").ToList();
            var day = startedAt.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var text = $"Billing reconciliation of {day}: {open.Count} open discrepancies.\n\n" + string.Join("\n", lines) + "\n\nSee GET /v1/admin/billing/discrepancies.";
            await outbox.EnqueueAsync(c, tx, OutboxEmail.Create($"billing-reconciliation-digest:{day}", to,
                new EmailContent($"Billing reconciliation {day}: {open.Count} discrepancies", text, "<pre>" + System.Net.WebUtility.HtmlEncode(text) + "</pre>")), ct);
            await c.ExecuteAsync(new CommandDefinition(
                "update billing_discrepancies set digested_at = @now where not resolved and last_seen_at >= @startedAt",
                new { now = time.GetUtcNow(), startedAt }, tx, cancellationToken: ct));
        }, ct);
    }

    private async Task<long> CompareAsync(IReadOnlyList<Subscription> page, DateTimeOffset listedAt, bool repair, CancellationToken ct)
    {
        List<Local> locals;
        // Npgsql binds an array as one parameter; Dapper expands "in @ids" into a list for SQLite.
        var idIn = db.Dialect.AnyOf("provider_subscription_id", "ids");
        await using (var connection = await db.OpenAsync(ct))
            locals = (await connection.QueryAsync<Local>(new CommandDefinition(
                $"""
                select id, organization_id, plan_code, provider_subscription_id, provider_price_id, status, current_period_end, cancel_at_period_end
                from subscriptions
                where provider = 'stripe' and {idIn}
                """, new { ids = page.Select(s => s.Id).ToArray() }, cancellationToken: ct))).ToList();
        var byId = locals.ToDictionary(l => l.ProviderSubscriptionId, StringComparer.Ordinal);
        long found = 0;
        var equalFields = new List<(string SubscriptionId, List<string> Fields)>();
        foreach (var stripe in page)
        {
            var item = stripe.Items?.Data?.FirstOrDefault();
            var stripePrice = item?.Price?.Id;
            DateTimeOffset? stripeEnd = item is null ? null : new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodEnd, DateTimeKind.Utc));
            if (!byId.TryGetValue(stripe.Id, out var ours))
            {
                if (stripe.Metadata?.GetValueOrDefault("organization_id") is { } org && SubscriptionStatus.IsLive(stripe.Status))
                {
                    var created = repair && await CreateMissingAsync(stripe, stripePrice, item, org, listedAt, ct);
                    await RecordAsync([new Difference(org, stripe.Id, "subscription", null, stripe.Status)], created, ct);
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
            equalFields.Add((stripe.Id, Compared.Where(f => differences.All(d => d.Field != f)).ToList()));
            if (differences.Count == 0) continue;
            var repaired = repair && await RepairAsync(ours, stripe, stripePrice, item, listedAt, differences, ct);
            await RecordAsync(differences, repaired, ct);
            found += differences.Count;
        }
        // The fields found equal again: their open rows are resolved, one transaction for the page.
        if (equalFields.Count > 0)
            await db.InTransactionAsync(async (c, tx) =>
            {
                foreach (var (subscriptionId, fields) in equalFields)
                    await discrepancies.ResolveAsync(c, tx, "stripe", subscriptionId, fields, ct);
            }, ct);
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
            var previousPlan = await planInForce.CurrentAsync(c, tx, ours.OrganizationId, ct);
            var before = await billingEvents.BeforeAsync(c, tx, ours.OrganizationId, ct);
            // Not applied when a webhook stored a newer state after the page was read.
            var repaired = await c.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions
                set status = case when status = 'suspended' and @status in ('past_due', 'unpaid') then 'suspended' else @status end,
                    plan_code = coalesce(@plan, plan_code), provider_price_id = @stripePrice,
                    current_period_start = @start, current_period_end = @end, cancel_at_period_end = @cancel,
                    grace_ends_at = case when @status in ('active', 'trialing') then null else grace_ends_at end,
                    payment_failed_at = case when @status in ('active', 'trialing') then null else payment_failed_at end,
                    payment_retry_count = case when @status in ('active', 'trialing') then 0 else payment_retry_count end,
                    dunning_invoice_id = case when @status in ('active', 'trialing') then null else dunning_invoice_id end,
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
            {
                await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SubscriptionRepair, "subscription", ours.Id, ours.OrganizationId,
                    differences.ToDictionary(d => d.Field, d => (object?)new { from = d.Ours, to = d.Stripe }), "system"), ct);
                // The plan in force may have changed (a status back to active, another price): violations follow at once.
                await planInForce.AfterWriteAsync(c, tx, ours.OrganizationId, previousPlan, ct);
                await billingEvents.AfterAsync(c, tx, ours.OrganizationId, before, ct);
            }
            return repaired;
        }, ct);

    /// <summary>One open row per (subscription, field): a drift seen again moves its <c>last_seen_at</c>.</summary>
    private Task RecordAsync(IReadOnlyList<Difference> differences, bool repaired, CancellationToken ct) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            foreach (var d in differences)
                await discrepancies.RecordAsync(c, tx, "stripe", d.OrganizationId, d.SubscriptionId, d.Field, d.Ours, d.Stripe, alert: false, repaired, ct);
        }, ct);

    private static readonly string[] Compared = ["status", "price", "current_period_end", "cancel_at_period_end", "subscription"];

    /// <summary>
    /// A live Stripe subscription of one of our organizations (its metadata) that has no local row: created as its
    /// events would have, through the same ownership rules (a deleted organization's is cancelled, one beside another
    /// live subscription is a conflict, not a swap); the plan in force is re-measured. Answers whether it was created.
    /// </summary>
    private async Task<bool> CreateMissingAsync(Subscription stripe, string? stripePrice, SubscriptionItem? item, string claimedOrganization, DateTimeOffset listedAt,
        CancellationToken ct) =>
        await db.InTransactionAsync(async (c, tx) =>
        {
            var organizationId = await ownership.ResolveAsync(c, tx, "stripe", stripe.Id, stripe.CustomerId, claimedOrganization, stripe.Status, null, ct);
            if (organizationId is null) return false;
            var metadataPlan = stripe.Metadata?.GetValueOrDefault("plan");
            var plan = await Subscriptions.SubscriptionWrites.PlanByStripePriceAsync(c, tx, stripePrice, ct)
                       ?? (await Subscriptions.SubscriptionWrites.PlanExistsAsync(c, tx, metadataPlan, ct) ? metadataPlan : null);
            if (plan is null)
            {
                log.LogWarning("Stripe subscription {SubscriptionId} of organization {OrganizationId} has price {Price}, which no plan has; not created", stripe.Id, organizationId, stripePrice);
                return false;
            }
            var previousPlan = await planInForce.CurrentAsync(c, tx, organizationId, ct);
            var before = await billingEvents.BeforeAsync(c, tx, organizationId, ct);
            var now = time.GetUtcNow();
            var state = new Subscriptions.ProviderSubscriptionState
            {
                OrganizationId = organizationId, PlanCode = plan, Provider = "stripe", ProviderSubscriptionId = stripe.Id, ProviderCustomerId = stripe.CustomerId,
                ProviderPriceId = stripePrice, Status = stripe.Status,
                CurrentPeriodStart = item is null ? null : new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodStart, DateTimeKind.Utc)),
                CurrentPeriodEnd = item is null ? null : new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodEnd, DateTimeKind.Utc)),
                CancelAtPeriodEnd = stripe.CancelAtPeriodEnd, ProviderUpdatedAt = listedAt, CollectionPaused = stripe.PauseCollection is not null,
            };
            if (stripe.CustomerId is not null) await Subscriptions.SubscriptionWrites.LinkCustomerAsync(c, tx, organizationId, "stripe", stripe.CustomerId, now, ct);
            if (!await Subscriptions.SubscriptionWrites.ApplyAsync(c, tx, state, now, time, ct)) return false;
            var row = await BillingSql.FindSubscriptionAsync(c, tx, organizationId, ct);
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SubscriptionRepair, "subscription", row!.Id, organizationId,
                new { subscription = new { from = (string?)null, to = stripe.Id }, status = stripe.Status }, "system"), ct);
            await planInForce.AfterWriteAsync(c, tx, organizationId, previousPlan, ct);
            await billingEvents.AfterAsync(c, tx, organizationId, before, ct);
            return true;
        }, ct);

    private static bool SameStatus(string ours, string stripe) =>
        ours == stripe || (ours == SubscriptionStatus.Suspended && stripe is SubscriptionStatus.PastDue or SubscriptionStatus.Unpaid);

    private static long? Seconds(DateTimeOffset? t) => t?.ToUnixTimeSeconds();

    private static string? Text(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Bool(bool b) => b ? "true" : "false";
}
