using Backstop.Features.Billing.PlanChanges;

namespace Backstop.Features.Billing;

internal sealed class AccessGate(Db db, IOptions<BillingOptions> options, TimeProvider time) : IAccessGate
{
    public async Task<AccessStatus> GetAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await GetAsync(connection, null, organizationId, ct);
    }

    public async Task<AccessStatus> GetAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct)
    {
        var subscription = await BillingSql.FindSubscriptionAsync(connection, transaction, organizationId, ct);
        // Stored violations hold whatever plan is in force now (the daily check clears those the plan no longer causes).
        var now = time.GetUtcNow();
        var violations = (await PlanViolations.OpenAsync(connection, transaction, organizationId, ct)).Select(v => PlanViolations.Summary(v, now)).ToList();
        var status = Decide(organizationId, subscription, violations, now);
        // An operator's lift of a suspension admits a payment refusal (not a pause) until it ends. Read only when it
        // would change the answer, so the gate's common case stays one query.
        return Liftable(status) && await AccessOverrides.LiftedUntilAsync(connection, transaction, organizationId, now, ct) is { } lifted
            ? Lifted(status, lifted)
            : status;
    }

    public async Task<IReadOnlyDictionary<string, AccessStatus>> GetManyAsync(DbConnection connection, DbTransaction? transaction,
        IReadOnlyCollection<string> organizationIds, CancellationToken ct)
    {
        var ids = organizationIds.Distinct(StringComparer.Ordinal).ToArray();
        var result = new Dictionary<string, AccessStatus>(ids.Length, StringComparer.Ordinal);
        if (ids.Length == 0) return result;
        var now = time.GetUtcNow();
        var subscriptions = await BillingSql.FindSubscriptionsAsync(connection, transaction, ids, ct);
        var violations = (await PlanViolations.OpenAsync(connection, transaction, ids, ct))
            .ToLookup(v => v.OrganizationId, v => PlanViolations.Summary(v, now), StringComparer.Ordinal);
        foreach (var id in ids) result[id] = Decide(id, subscriptions.GetValueOrDefault(id), violations[id].ToList(), now);
        var liftable = result.Values.Where(Liftable).Select(s => s.OrganizationId).ToArray();
        if (liftable.Length > 0)
            foreach (var (id, lifted) in await AccessOverrides.LiftedUntilAsync(connection, transaction, liftable, now, ct))
                result[id] = Lifted(result[id], lifted);
        return result;
    }

    /// <summary>The access a subscription (or none) gives, before an operator's lift.</summary>
    private AccessStatus Decide(string organizationId, SubscriptionRow? subscription, List<ViolationSummary> violations, DateTimeOffset now)
    {
        var o = options.Value;
        var updateUrl = string.IsNullOrWhiteSpace(o.UpdatePaymentUrl) ? null : o.UpdatePaymentUrl.Trim();
        if (subscription is not { Live: true })
            return new AccessStatus(organizationId, subscription?.Status ?? "none", o.DefaultPlan, true, true, null, null, null, updateUrl, violations);

        var (canCreate, canUse, code, detail) = subscription.Status switch
        {
            // The grace end decides, not the hourly job that records it: until the job runs the row still says past_due.
            SubscriptionStatus.PastDue when subscription.GraceEndsAt <= now => (false, false, "subscription_suspended",
                $"The organization's grace period for the past-due payment ended; the subscription is suspended. Update the payment method{At(updateUrl)}."),
            SubscriptionStatus.PastDue => (false, true, "payment_past_due",
                $"The organization's payment is past due: creating is refused until it is paid{Until(subscription.GraceEndsAt)}. Update the payment method{At(updateUrl)}."),
            SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid => (false, false, "subscription_suspended",
                $"The organization's subscription is suspended for non-payment. Update the payment method{At(updateUrl)}."),
            SubscriptionStatus.Paused => (false, false, "subscription_paused",
                "The organization's subscription is paused: resume it to continue."),
            // Stripe's pause_collection: invoices are not collected, so nothing is paid for: gated as paused.
            _ when subscription.CollectionPaused => (false, false, "subscription_paused",
                "The organization's subscription has its payment collection paused: resume it to continue."),
            _ => (true, true, (string?)null, (string?)null),
        };
        return new AccessStatus(organizationId, subscription.Status, subscription.PlanCode, canCreate, canUse, code, detail,
            subscription.GraceEndsAt, updateUrl, violations);
    }

    /// <summary>A payment refusal (not a pause) that an operator's lift of the suspension would admit.</summary>
    private static bool Liftable(AccessStatus status) =>
        (!status.CanCreate || !status.CanUse) && status.State is SubscriptionStatus.PastDue or SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid;

    private static AccessStatus Lifted(AccessStatus status, DateTimeOffset until) =>
        status with { CanCreate = true, CanUse = true, RefusalCode = null, RefusalDetail = null, SuspensionLiftedUntil = until };

    public async Task EnsureAllowedAsync(string organizationId, GatedAction action, string? metric, CancellationToken ct)
    {
        if (Refusal(await GetAsync(organizationId, ct), action, metric) is { } refusal) throw refusal;
    }

    public Exception? Refusal(AccessStatus access, GatedAction action, string? metric)
    {
        var allowed = action == GatedAction.Create ? access.CanCreate : access.CanUse;
        if (!allowed)
            return new ProblemException(402, access.RefusalCode!, access.RefusalDetail!)
            {
                Extensions = new Dictionary<string, object?>
                {
                    ["subscriptionStatus"] = access.State,
                    ["graceEndsAt"] = access.GraceEndsAt,
                    ["updatePaymentUrl"] = access.UpdatePaymentUrl,
                },
            };
        if (metric is not null && access.Violations.FirstOrDefault(v => v.Blocking && v.Metric == metric) is { } violation)
            return new ProblemException(403, "plan_violation", RefusalSentence(violation))
            {
                Extensions = new Dictionary<string, object?>
                {
                    ["metric"] = violation.Metric, ["current"] = violation.Current, ["limit"] = violation.Limit, ["action"] = violation.Action,
                    ["graceEndsAt"] = violation.GraceEndsAt,
                },
            };
        return null;
    }

    /// <summary>
    /// The violation's sentence, and for a storage violation past its grace what the emails promised: "recordings and
    /// uploads continue until {date}, then stop until you are under the limit".
    /// </summary>
    internal static string RefusalSentence(ViolationSummary violation) =>
        violation.Action == PlanViolations.GracePeriod && violation.GraceEndsAt is { } end
            ? $"{violation.Sentence}: recordings and uploads stopped on {end:yyyy-MM-dd} and stay stopped until you are under the limit."
            : violation.Sentence;

    private static string Until(DateTimeOffset? graceEndsAt) =>
        graceEndsAt is { } end ? $"; the subscription is suspended at {end:yyyy-MM-dd HH:mm} UTC if it is not" : "";

    private static string At(string? url) => url is null ? "" : $" at {url}";
}
