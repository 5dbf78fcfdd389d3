using Backstop.Features.Billing.Coupons;
using Backstop.Features.Billing.Plans;
using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Features.Billing.PlanChanges;

/// <param name="Type"><c>meetings</c>, <c>team_members</c> or <c>storage</c>.</param>
/// <param name="Action"><c>read_only</c>, <c>notify_admin</c> or <c>grace_period</c>.</param>
internal sealed record ViolationView(string Type, string Metric, long Current, long Limit, string Action, string Sentence, DateTimeOffset? GraceEndsAt = null)
{
    public static ViolationView From(ViolationFinding f) => new(f.Type, f.Metric, f.Current, f.Limit, f.Action, f.Sentence);

    public static ViolationView From(StoredViolation v) => new(v.Type, v.Metric, v.CurrentUsage, v.LimitValue, v.Action, v.Sentence, v.GraceEndsAt);
}

internal sealed record PendingChangeView(string Plan, DateTimeOffset EffectiveAt);

/// <param name="ProrationAmount">For an upgrade: what Stripe's invoice preview prorates now (minor units of <see cref="Currency"/>); null with <see cref="ProrationUnavailableReason"/> when it cannot be had.</param>
/// <param name="ProrationDate">For an upgrade: the time the preview prorated at; pass it back as <c>prorationDate</c> so the charge is the previewed one.</param>
internal sealed record PlanChangePreview(
    string FromPlan,
    string Plan,
    string Direction,
    DateTimeOffset? EffectiveAt,
    long? ProrationAmount,
    string? Currency,
    string? ProrationUnavailableReason,
    IReadOnlyList<ViolationView> Violations,
    DateTimeOffset? ProrationDate = null);

internal sealed record PlanChangeResult(string FromPlan, string Plan, string Direction, DateTimeOffset EffectiveAt, PendingChangeView? PendingChange,
    int ViolationsCleared, string? CouponCode);

/// <summary>
/// Plan changes of an organization's Stripe subscription. An upgrade is one subscription update (the new price on
/// the existing item, <c>proration_behavior=create_prorations</c>); a downgrade is a subscription schedule (the
/// current price until the current phase ends, then the new one, <c>end_behavior=release</c>), applied locally when
/// Stripe's <c>customer.subscription.updated</c> shows the new price (<see cref="DowngradeAppliedHandler"/>).
/// </summary>
/// <remarks>
/// The Stripe calls are made inline, not through the outbox: the customer is waiting for Stripe's answer (a declined
/// card, a price Stripe does not know) and the answer decides what we store; nothing local has committed that the
/// call would have to follow. Idempotency keys are derived from the operation (subscription, from → to plan, and the
/// subscription row's updated_at, which moves with every local change), so a retried request is applied once
/// by Stripe and a later, new change of the same plans gets a new key.
/// A local failure after Stripe succeeded: for an upgrade, Stripe sends <c>customer.subscription.updated</c> with the
/// new price, which the subscription sync applies (and the daily reconciliation compares prices); for a downgrade the
/// claim (pending plan) was committed before the calls, the schedule is released again if recording it fails, and a
/// failed Stripe call gives the claim and any coupon hold back.
/// </remarks>
internal sealed class PlanChanger(
    Db db,
    StripeApi stripe,
    IOrganizationPlans organizationPlans,
    PlanViolations violations,
    CouponRedemptions coupons,
    IAuditLog audit,
    BillingEvents billingEvents,
    TimeProvider time,
    IOptions<BillingOptions> options,
    ILogger<PlanChanger> log)
{
    public async Task<PlanChangePreview> PreviewAsync(string organizationId, string planCode, CancellationToken ct)
    {
        var current = await organizationPlans.GetAsync(organizationId, ct);
        var target = await FindTargetAsync(planCode, ct);
        var direction = PlanDirection.Of(current.Limits, target.LimitMap());
        await using var connection = await db.OpenAsync(ct);
        var subscription = await BillingSql.FindSubscriptionAsync(connection, null, organizationId, ct);
        var now = time.GetUtcNow();

        if (direction == PlanDirection.Downgrade)
        {
            var found = await FindViolationsAsync(connection, organizationId, current, target, ct);
            return new PlanChangePreview(current.PlanCode, target.Code, direction, current.PeriodEnd ?? now, null, null, null,
                found.Select(ViolationView.From).ToList());
        }

        // Whole seconds: Stripe's proration_date is unix seconds, and the update must prorate at the very same instant.
        var prorationDate = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var (amount, currency, reason) = await ProrationAsync(subscription, target, prorationDate, ct);
        return new PlanChangePreview(current.PlanCode, target.Code, direction, now, amount, currency, reason, [], prorationDate);
    }

    public async Task<PlanChangeResult> RequestAsync(string organizationId, string planCode, string? couponCode, CancellationToken ct) =>
        await RequestAsync(organizationId, planCode, couponCode, null, ct);

    /// <param name="prorationDate">The preview's <c>prorationDate</c>, so the upgrade charges what was previewed; null: now.</param>
    public async Task<PlanChangeResult> RequestAsync(string organizationId, string planCode, string? couponCode, DateTimeOffset? prorationDate, CancellationToken ct)
    {
        var target = await FindTargetAsync(planCode, ct);
        if (!target.Active) throw new ProblemException(409, "plan_inactive", $"Plan {target.Code} is no longer offered.");
        if (string.IsNullOrEmpty(target.StripePriceId))
            throw new ProblemException(409, "plan_not_purchasable",
                $"Plan {target.Code} has no Stripe price. To move to a free plan, cancel the subscription (DELETE /v1/billing/subscription): it ends at the end of the paid period.");

        SubscriptionRow subscription;
        PlanRow from;
        string? pendingScheduleId;
        await using (var connection = await db.OpenAsync(ct))
        {
            subscription = await BillingSql.FindSubscriptionAsync(connection, null, organizationId, ct) ?? throw NoSubscription();
            if (subscription.Provider != "stripe" || subscription.ProviderSubscriptionId is null) throw NoSubscription();
            if (subscription.Status is not (SubscriptionStatus.Active or SubscriptionStatus.Trialing))
                throw new ProblemException(409, "subscription_not_active",
                    $"The subscription is {subscription.Status}: its plan can be changed only while it is active or trialing.");
            if (subscription.PlanCode == target.Code) throw new ProblemException(409, "plan_unchanged", $"The organization is already on plan {target.Code}.");
            from = await BillingSql.FindPlanAsync(connection, null, subscription.PlanCode, ct)
                   ?? throw new InvalidOperationException($"The subscription's plan {subscription.PlanCode} does not exist.");
            pendingScheduleId = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
                "select pending_schedule_id from subscriptions where id = @Id", new { subscription.Id }, cancellationToken: ct));
        }
        var upgrade = PlanDirection.Of(from.LimitMap(), target.LimitMap()) == PlanDirection.Upgrade;
        if (subscription.PendingPlanCode is { } pending && (!upgrade || pendingScheduleId is null))
            throw new ProblemException(409, "plan_change_pending", pendingScheduleId is null
                ? "Another plan change of this subscription is in progress; try again in a moment."
                : $"A change to plan {pending} is already scheduled for {subscription.PendingChangeAt:yyyy-MM-dd}: cancel it first (DELETE /v1/billing/plan-change).");
        var now = time.GetUtcNow();
        if (prorationDate is { } pd && (pd > now || (subscription.CurrentPeriodStart is { } ps && pd < ps)))
            throw new ProblemException(400, "invalid_proration_date", "prorationDate must be the preview's, within the current billing period and not in the future.");

        // From here Stripe may be changed: the caller's cancellation no longer stops what follows (as BotStarter does),
        // so a client abort cannot leave Stripe changed and nothing recorded.
        return upgrade
            ? await UpgradeAsync(subscription, from, target, couponCode, prorationDate ?? DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds()), pendingScheduleId)
            : await DowngradeAsync(subscription, from, target, couponCode);
    }

    /// <summary>
    /// The new price at once, the proration invoiced and charged now (<c>always_invoice</c>, at the preview's
    /// <c>proration_date</c>) as a pending update (<c>pending_if_incomplete</c>): a declined payment leaves the plan as it
    /// was at Stripe and here, answered 402 with the invoice's payment page (paying it applies the upgrade, which the
    /// subscription's events then bring here). A pending downgrade is replaced: its schedule is released first (Stripe
    /// refuses item changes on a schedule-managed subscription) and scheduled again if Stripe refuses the upgrade.
    /// </summary>
    private async Task<PlanChangeResult> UpgradeAsync(SubscriptionRow subscription, PlanRow from, PlanRow target, string? couponCode, DateTimeOffset prorationDate,
        string? pendingScheduleId)
    {
        var ct = CancellationToken.None;
        var reference = $"plan-change:{subscription.Id}:{target.Code}";
        var hold = couponCode is null ? null
            : await db.InTransactionAsync((c, tx) => coupons.HoldAsync(c, tx, couponCode, subscription.OrganizationId, reference, ct), ct);
        Subscription updated;
        SubscriptionSchedule? released = null;
        try
        {
            var remote = await GetRemoteAsync(subscription.ProviderSubscriptionId!, ct);
            // A pending downgrade's schedule, or one left attached after its downgrade applied.
            if (remote.ScheduleId is { } attached)
            {
                released = await new SubscriptionScheduleService(stripe.Client).GetAsync(attached, null, null, ct);
                await new SubscriptionScheduleService(stripe.Client).ReleaseAsync(attached, new SubscriptionScheduleReleaseOptions(),
                    StripeApi.Idempotent($"plan-change-release:{attached}"), ct);
            }
            var item = remote.Items.Data[0];
            updated = await new SubscriptionService(stripe.Client).UpdateAsync(subscription.ProviderSubscriptionId!, new SubscriptionUpdateOptions
            {
                Items = [new SubscriptionItemOptions { Id = item.Id, Price = target.StripePriceId }],
                ProrationBehavior = "always_invoice",
                ProrationDate = prorationDate.UtcDateTime,
                PaymentBehavior = "pending_if_incomplete",
                Expand = ["latest_invoice"],
            }, StripeApi.Idempotent(ChangeKey(subscription, from.Code, target.Code)), ct);
            if (updated.PendingUpdate is not null)
            {
                var url = updated.LatestInvoice?.HostedInvoiceUrl;
                throw new ProblemException(402, "payment_failed",
                    $"The card was declined for the prorated charge of the upgrade to {target.Code}; the plan is unchanged. Pay the invoice to apply the upgrade.")
                {
                    Extensions = new Dictionary<string, object?> { ["paymentUrl"] = url, ["invoiceId"] = updated.LatestInvoiceId ?? updated.LatestInvoice?.Id },
                };
            }
        }
        catch (Exception e) when (IsStripeFailure(e) || e is ProblemException { Status: 402 })
        {
            if (released is not null && subscription.PendingPlanCode is { } pending) await RestoreDowngradeAsync(subscription, pending, released);
            if (hold is not null) await db.InTransactionAsync((c, tx) => coupons.ReleaseAsync(c, tx, hold.RedemptionId, ct), ct);
            throw e as ProblemException ?? StripeProblem(e);
        }

        // Pending updates take only items and proration settings: the coupon is a second call, once the upgrade is paid.
        var couponApplied = hold is null;
        if (hold is not null)
        {
            try
            {
                await new SubscriptionService(stripe.Client).UpdateAsync(subscription.ProviderSubscriptionId!,
                    new SubscriptionUpdateOptions { Discounts = [new SubscriptionDiscountOptions { Coupon = hold.StripeCouponId }] },
                    StripeApi.Idempotent(ChangeKey(subscription, from.Code, target.Code) + ":coupon"), ct);
                couponApplied = true;
            }
            catch (Exception e) when (IsStripeFailure(e))
            {
                log.LogError(e, "Stripe refused coupon {Coupon} on subscription {SubscriptionId} after its upgrade; the hold is given back",
                    hold.CouponCode, subscription.ProviderSubscriptionId);
            }
        }

        var now = time.GetUtcNow();
        var cleared = await db.InTransactionAsync(async (connection, tx) =>
        {
            var before = await billingEvents.BeforeAsync(connection, tx, subscription.OrganizationId, ct);
            // Conditional on the plan we changed from: a concurrent change (or the webhook sync) that got there first is not overwritten.
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set plan_code = @to, provider_price_id = @price, pending_plan_code = null, pending_change_at = null,
                       pending_schedule_id = null, updated_at = @now
                where id = @id and plan_code = @from
                """, new { to = target.Code, price = target.StripePriceId, now, id = subscription.Id, from = from.Code }, tx, cancellationToken: ct));
            if (hold is not null)
            {
                if (couponApplied) await coupons.ConfirmAsync(connection, tx, hold.RedemptionId, ct);
                else await coupons.ReleaseAsync(connection, tx, hold.RedemptionId, ct);
            }
            if (subscription.PendingPlanCode is { } replaced)
            {
                await coupons.ReleaseByReferenceAsync(connection, tx, subscription.OrganizationId, $"plan-change:{subscription.Id}:{replaced}", ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionPlanChangeCancel, "subscription", subscription.Id, subscription.OrganizationId,
                    new { pendingPlan = replaced, scheduleId = pendingScheduleId, replacedBy = target.Code }), ct);
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionUpgrade, "subscription", subscription.Id, subscription.OrganizationId,
                new { plan = new { from = from.Code, to = target.Code }, invoiceId = updated.LatestInvoiceId ?? updated.LatestInvoice?.Id, prorationDate, coupon = couponApplied ? hold?.CouponCode : null }), ct);
            await billingEvents.AfterAsync(connection, tx, subscription.OrganizationId, before, ct);
            return await violations.ClearAllAsync(connection, tx, subscription.OrganizationId, ct);
        }, ct);
        log.LogInformation("Organization {OrganizationId} upgraded from {FromPlan} to {ToPlan} (Stripe subscription {SubscriptionId} status {Status})",
            subscription.OrganizationId, from.Code, target.Code, subscription.ProviderSubscriptionId, updated.Status);
        return new PlanChangeResult(from.Code, target.Code, PlanDirection.Upgrade, now, null, cleared, couponApplied ? hold?.CouponCode : null);
    }

    /// <summary>
    /// Compensation of an upgrade Stripe refused after the pending downgrade's schedule was released: the downgrade is
    /// scheduled again (its next phase as it was) and recorded, so the customer keeps what they had asked for.
    /// </summary>
    private async Task RestoreDowngradeAsync(SubscriptionRow subscription, string pendingPlan, SubscriptionSchedule released)
    {
        var ct = CancellationToken.None;
        try
        {
            var remote = await GetRemoteAsync(subscription.ProviderSubscriptionId!, ct);
            var old = released.Phases;
            var next = old.Count > 1 ? old[^1] : null;
            if (next is null) return;
            var (scheduleId, effectiveAt) = await ScheduleAsync(remote, Carry(next), $"plan-change-restore:{released.Id}", ct);
            await db.InTransactionAsync((connection, tx) => connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set pending_schedule_id = @scheduleId, pending_change_at = @effectiveAt, updated_at = @now
                where id = @id and pending_plan_code = @pendingPlan
                """, new { scheduleId, effectiveAt, now = time.GetUtcNow(), id = subscription.Id, pendingPlan }, tx, cancellationToken: ct)), ct);
        }
        catch (Exception e) when (IsStripeFailure(e))
        {
            log.LogError(e, "The downgrade of subscription {SubscriptionId} to {Plan} could not be scheduled again after a refused upgrade",
                subscription.ProviderSubscriptionId, pendingPlan);
        }
    }

    private async Task<PlanChangeResult> DowngradeAsync(SubscriptionRow subscription, PlanRow from, PlanRow target, string? couponCode)
    {
        var ct = CancellationToken.None;
        var organizationId = subscription.OrganizationId;
        if (options.Value.RefuseViolatingDowngrades)
        {
            var current = await organizationPlans.GetAsync(organizationId, ct);
            List<ViolationFinding> found;
            await using (var connection = await db.OpenAsync(ct))
                found = await FindViolationsAsync(connection, organizationId, current, target, ct);
            if (found.Count > 0)
                throw new ProblemException(409, "downgrade_blocked",
                    $"Plan {target.Code} is below what the organization uses: {string.Join("; ", found.Select(f => f.Remove))}.")
                {
                    Extensions = new Dictionary<string, object?>
                    {
                        ["violations"] = found.Select(ViolationView.From).ToList(),
                        ["remove"] = found.Select(f => f.Remove).ToList(),
                    },
                };
        }

        // The claim: the database decides which of two concurrent downgrades schedules; the other is refused before any Stripe call.
        var reference = $"plan-change:{subscription.Id}:{target.Code}";
        var claimAt = (subscription.Status == SubscriptionStatus.Trialing ? subscription.TrialEnd : null) ?? subscription.CurrentPeriodEnd ?? time.GetUtcNow();
        var hold = await db.InTransactionAsync(async (connection, tx) =>
        {
            var claimed = await connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set pending_plan_code = @to, pending_change_at = @claimAt, pending_schedule_id = null, updated_at = @now
                where id = @id and plan_code = @from and pending_plan_code is null
                """, new { to = target.Code, claimAt, now = time.GetUtcNow(), id = subscription.Id, from = from.Code }, tx, cancellationToken: ct));
            if (claimed == 0) throw new ProblemException(409, "plan_change_pending", "Another plan change of this subscription is in progress or scheduled.");
            return couponCode is null ? null : await coupons.HoldAsync(connection, tx, couponCode, organizationId, reference, ct);
        }, ct);

        string? scheduleId = null;
        DateTimeOffset effectiveAt;
        try
        {
            var remote = await GetRemoteAsync(subscription.ProviderSubscriptionId!, ct);
            var item = remote.Items.Data[0];
            var next = new SubscriptionSchedulePhaseOptions
            {
                Items = [new SubscriptionSchedulePhaseItemOptions { Price = target.StripePriceId, Quantity = item.Quantity > 0 ? item.Quantity : 1 }],
                Duration = new SubscriptionSchedulePhaseDurationOptions
                {
                    Interval = item.Price?.Recurring?.Interval ?? "month",
                    IntervalCount = item.Price?.Recurring?.IntervalCount is > 0 and var n ? n : 1,
                },
            };
            if (hold is not null) next.Discounts = [new SubscriptionSchedulePhaseDiscountOptions { Coupon = hold.StripeCouponId }];
            (scheduleId, effectiveAt) = await ScheduleAsync(remote, next, ChangeKey(subscription, from.Code, target.Code), ct,
                $"plan-change-schedule:{subscription.ProviderSubscriptionId}:{Stamp(subscription)}");
        }
        catch (Exception e) when (IsStripeFailure(e))
        {
            await GiveBackClaimAsync(subscription, target, hold, ct);
            if (e is ScheduleFailure { ScheduleId: { } created }) await ReleaseQuietlyAsync(created, ct);
            throw StripeProblem(e is ScheduleFailure f ? f.InnerException! : e);
        }

        try
        {
            await db.InTransactionAsync(async (connection, tx) =>
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    update subscriptions set pending_change_at = @effectiveAt, pending_schedule_id = @scheduleId, updated_at = @now
                    where id = @id and pending_plan_code = @to
                    """, new { effectiveAt, scheduleId, now = time.GetUtcNow(), id = subscription.Id, to = target.Code }, tx, cancellationToken: ct));
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionDowngradeSchedule, "subscription", subscription.Id, organizationId,
                    new { plan = new { from = from.Code, to = target.Code }, effectiveAt, scheduleId, coupon = hold?.CouponCode }), ct);
                await billingEvents.SubscriptionAsync(connection, tx, Backstop.Infrastructure.Events.EventTypes.SubscriptionDowngradeScheduled, organizationId, ct);
            }, ct);
        }
        catch (Exception)
        {
            // Compensation: nothing local records the schedule, so Stripe must not keep it either.
            await ReleaseQuietlyAsync(scheduleId, ct);
            await GiveBackClaimAsync(subscription, target, hold, ct);
            throw;
        }
        log.LogInformation("Organization {OrganizationId} scheduled a downgrade from {FromPlan} to {ToPlan} at {EffectiveAt} (schedule {ScheduleId})",
            organizationId, from.Code, target.Code, effectiveAt, scheduleId);
        return new PlanChangeResult(from.Code, target.Code, PlanDirection.Downgrade, effectiveAt, new PendingChangeView(target.Code, effectiveAt), 0, hold?.CouponCode);
    }

    /// <summary>
    /// Attaches a schedule (or takes the one attached) and sets its phases: the current phase as Stripe has it — every
    /// field carried, because an update replaces the phases and drops whatever is not sent again (discounts,
    /// <c>trial_end</c>, metadata, payment method, tax) — ending at the trial's end during a trial, then
    /// <paramref name="next"/>, which keeps the current phase's discounts unless it brings its own (left empty, Stripe
    /// would apply the customer's discount, not the subscription's) and its metadata, payment method and tax settings.
    /// </summary>
    private async Task<(string ScheduleId, DateTimeOffset EffectiveAt)> ScheduleAsync(Subscription remote, SubscriptionSchedulePhaseOptions next, string updateKey,
        CancellationToken ct, string? createKey = null)
    {
        var service = new SubscriptionScheduleService(stripe.Client);
        string? scheduleId = remote.ScheduleId;
        try
        {
            var schedule = scheduleId is null
                ? await service.CreateAsync(new SubscriptionScheduleCreateOptions { FromSubscription = remote.Id },
                    StripeApi.Idempotent(createKey ?? updateKey + ":schedule"), ct)
                : await service.GetAsync(scheduleId, null, null, ct);
            scheduleId = schedule.Id;
            var phase = schedule.Phases.FirstOrDefault(p => schedule.CurrentPhase is { } c && p.StartDate == c.StartDate)
                        ?? throw new InvalidOperationException($"Stripe schedule {schedule.Id} has no current phase.");
            var current = Carry(phase);
            if (remote.Status == SubscriptionStatus.Trialing && remote.TrialEnd is { } trialEnd)
            {
                current.TrialEnd = trialEnd;
                current.EndDate = trialEnd;
            }
            next.Discounts ??= current.Discounts;
            next.Metadata ??= current.Metadata;
            next.DefaultPaymentMethod ??= current.DefaultPaymentMethod;
            next.DefaultTaxRates ??= current.DefaultTaxRates;
            next.AutomaticTax ??= current.AutomaticTax;
            if (next.Duration is null && next.EndDate is null) next.Duration = new SubscriptionSchedulePhaseDurationOptions { Interval = "month", IntervalCount = 1 };
            next.StartDate = null;
            await service.UpdateAsync(scheduleId, new SubscriptionScheduleUpdateOptions
            {
                EndBehavior = "release",
                ProrationBehavior = "none",
                Phases = [current, next],
            }, StripeApi.Idempotent(updateKey), ct);
            var end = current.EndDate?.Value is DateTime d ? d : phase.EndDate;
            return (scheduleId, new DateTimeOffset(DateTime.SpecifyKind(end, DateTimeKind.Utc)));
        }
        catch (Exception e) when (IsStripeFailure(e) && scheduleId is not null && remote.ScheduleId is null)
        {
            throw new ScheduleFailure(scheduleId, e);
        }
    }

    /// <summary>A schedule phase as Stripe answered it, as the options that set it again unchanged.</summary>
    private static SubscriptionSchedulePhaseOptions Carry(SubscriptionSchedulePhase p) => new()
    {
        Items = p.Items.Select(i => new SubscriptionSchedulePhaseItemOptions { Price = i.PriceId, Quantity = i.Quantity > 0 ? i.Quantity : 1 }).ToList(),
        StartDate = p.StartDate,
        EndDate = p.EndDate,
        Discounts = p.Discounts is { Count: > 0 } discounts
            ? discounts.Select(d => d.DiscountId is not null ? new SubscriptionSchedulePhaseDiscountOptions { Discount = d.DiscountId }
                : d.CouponId is not null ? new SubscriptionSchedulePhaseDiscountOptions { Coupon = d.CouponId }
                : new SubscriptionSchedulePhaseDiscountOptions { PromotionCode = d.PromotionCodeId }).ToList()
            : null,
        TrialEnd = p.TrialEnd,
        Metadata = p.Metadata is { Count: > 0 } m ? new Dictionary<string, string>(m) : null,
        DefaultPaymentMethod = p.DefaultPaymentMethodId,
        DefaultTaxRates = p.DefaultTaxRates is { Count: > 0 } rates ? rates.Select(r => r.Id).ToList() : null,
        CollectionMethod = p.CollectionMethod,
        Description = p.Description,
    };

    /// <summary>A Stripe failure after a schedule was created for the change: the schedule must be released.</summary>
    private sealed class ScheduleFailure(string scheduleId, Exception inner) : Exception(inner.Message, inner)
    {
        public string ScheduleId { get; } = scheduleId;
    }

    /// <summary>Cancels the scheduled downgrade: releases the Stripe schedule (the subscription keeps its current price) and clears the pending change.</summary>
    public async Task CancelAsync(string organizationId, CancellationToken ct)
    {
        SubscriptionRow subscription;
        await using (var connection = await db.OpenAsync(ct))
            subscription = await BillingSql.FindSubscriptionAsync(connection, null, organizationId, ct) ?? throw NoPendingChange();
        if (subscription.PendingPlanCode is null) throw NoPendingChange();
        string? pendingScheduleId;
        await using (var connection = await db.OpenAsync(ct))
            pendingScheduleId = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
                "select pending_schedule_id from subscriptions where id = @Id", new { subscription.Id }, cancellationToken: ct));
        if (pendingScheduleId is not { } scheduleId)
            throw new ProblemException(409, "plan_change_in_progress", "The plan change is being scheduled right now; try again in a moment.");
        ct = CancellationToken.None;
        try
        {
            await new SubscriptionScheduleService(stripe.Client).ReleaseAsync(scheduleId, new SubscriptionScheduleReleaseOptions(),
                StripeApi.Idempotent($"plan-change-release:{scheduleId}"), ct);
        }
        catch (StripeException e) when (e.StripeError?.Code == "resource_missing" || (int)e.HttpStatusCode == 400)
        {
            // Already released or completed at Stripe: there is nothing left to cancel there.
            log.LogWarning("Schedule {ScheduleId} could not be released at Stripe ({Message}); clearing the pending change", scheduleId, e.StripeError?.Message);
        }
        catch (Exception e) when (IsStripeFailure(e))
        {
            throw StripeProblem(e);
        }
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var cleared = await connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set pending_plan_code = null, pending_change_at = null, pending_schedule_id = null, updated_at = @now
                where id = @id and pending_schedule_id = @scheduleId
                """, new { now = time.GetUtcNow(), id = subscription.Id, scheduleId }, tx, cancellationToken: ct));
            await coupons.ReleaseByReferenceAsync(connection, tx, organizationId, $"plan-change:{subscription.Id}:{subscription.PendingPlanCode}", ct);
            if (cleared > 0)
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionPlanChangeCancel, "subscription", subscription.Id, organizationId,
                    new { pendingPlan = subscription.PendingPlanCode, scheduleId }), ct);
        }, ct);
    }

    /// <summary>Violations the organization's usage would cause on <paramref name="target"/>, over the period in force (or the calendar month).</summary>
    private async Task<List<ViolationFinding>> FindViolationsAsync(System.Data.Common.DbConnection connection, string organizationId, OrganizationPlan current,
        PlanRow target, CancellationToken ct)
    {
        var (periodStart, periodEnd) = current.PeriodStart is { } s && current.PeriodEnd is { } e ? (s, e) : PlanViolations.CalendarMonth(time.GetUtcNow());
        var usage = await violations.UsageAsync(connection, null, organizationId, periodStart, periodEnd, ct);
        return PlanViolations.Against(usage, target.LimitMap(), target.Name);
    }

    private async Task<(long? Amount, string? Currency, string? Reason)> ProrationAsync(SubscriptionRow? subscription, PlanRow target, DateTimeOffset now, CancellationToken ct)
    {
        if (subscription is not { Live: true, Provider: "stripe", ProviderSubscriptionId: not null })
            return (null, null, "The organization has no Stripe subscription: a first plan is bought through checkout.");
        if (string.IsNullOrEmpty(target.StripePriceId)) return (null, null, $"Plan {target.Code} has no Stripe price.");
        if (!stripe.Configured) return (null, null, "Billing with Stripe is not configured on this server.");
        try
        {
            var remote = await GetRemoteAsync(subscription.ProviderSubscriptionId, ct);
            var invoice = await new InvoiceService(stripe.Client).CreatePreviewAsync(new InvoiceCreatePreviewOptions
            {
                Customer = remote.CustomerId,
                Subscription = remote.Id,
                SubscriptionDetails = new InvoiceSubscriptionDetailsOptions
                {
                    Items = [new InvoiceSubscriptionDetailsItemOptions { Id = remote.Items.Data[0].Id, Price = target.StripePriceId }],
                    ProrationBehavior = "create_prorations",
                    ProrationDate = now.UtcDateTime,
                },
            }, null, ct);
            var prorations = invoice.Lines?.Data?.Where(l => l.Parent?.SubscriptionItemDetails?.Proration == true).ToList() ?? [];
            return (prorations.Sum(l => l.Amount), invoice.Currency, null);
        }
        catch (Exception e) when (IsStripeFailure(e))
        {
            log.LogWarning(e, "Stripe's invoice preview failed for subscription {SubscriptionId}", subscription.ProviderSubscriptionId);
            return (null, null, "Stripe's invoice preview is unavailable: " + (e is StripeException se ? se.StripeError?.Message ?? se.Message : "Stripe could not be reached."));
        }
    }

    private Task<Subscription> GetRemoteAsync(string subscriptionId, CancellationToken ct) =>
        new SubscriptionService(stripe.Client).GetAsync(subscriptionId, null, null, ct);

    private async Task GiveBackClaimAsync(SubscriptionRow subscription, PlanRow target, CouponHold? hold, CancellationToken ct) =>
        await db.InTransactionAsync(async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set pending_plan_code = null, pending_change_at = null, pending_schedule_id = null, updated_at = @now
                where id = @id and pending_plan_code = @to and pending_schedule_id is null
                """, new { now = time.GetUtcNow(), id = subscription.Id, to = target.Code }, tx, cancellationToken: ct));
            if (hold is not null) await coupons.ReleaseAsync(connection, tx, hold.RedemptionId, ct);
        }, CancellationToken.None);

    private async Task ReleaseQuietlyAsync(string scheduleId, CancellationToken ct)
    {
        try
        {
            await new SubscriptionScheduleService(stripe.Client).ReleaseAsync(scheduleId, new SubscriptionScheduleReleaseOptions(),
                StripeApi.Idempotent($"plan-change-release:{scheduleId}"), ct);
        }
        catch (Exception e) when (IsStripeFailure(e))
        {
            // The reconciliation compares Stripe's price with ours; a schedule left behind shows there at its phase end.
            log.LogError(e, "Could not release Stripe schedule {ScheduleId} after a failed downgrade", scheduleId);
        }
    }

    private async Task<PlanRow> FindTargetAsync(string planCode, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await BillingSql.FindPlanAsync(connection, null, planCode.Trim(), ct)
               ?? throw PlanStore.NotFound(planCode.Trim());
    }

    /// <summary>The idempotency key of one plan change: the subscription, the plans, and the row's version as the request read it.</summary>
    private static string ChangeKey(SubscriptionRow s, string from, string to) =>
        $"plan-change:{s.ProviderSubscriptionId}:{from}->{to}:{Stamp(s)}";

    /// <remarks>
    /// The row's <c>updated_at</c> (milliseconds), not the provider's timestamp alone: every local change moves it (an
    /// applied change, a synced event, a given-back claim), so the same plans changed again later never reuse a key
    /// Stripe still remembers (24 hours), while a retry of a request that changed nothing locally repeats its key.
    /// </remarks>
    private static long Stamp(SubscriptionRow s) => s.UpdatedAt.ToUnixTimeMilliseconds();

    /// <summary>
    /// A failed Stripe call (<see cref="StripeErrors"/>; the plan change's Stripe calls run on <c>CancellationToken.None</c>
    /// once the claim is taken, so a cancellation is Stripe's timeout), or a schedule left behind by one.
    /// </summary>
    private static bool IsStripeFailure(Exception e) => e is ScheduleFailure || StripeErrors.IsStripeFailure(e, CancellationToken.None);

    private static ProblemException StripeProblem(Exception e) => StripeErrors.Problem(e, "nothing was changed");

    private static ProblemException NoSubscription() =>
        new(409, "no_subscription", "The organization has no Stripe subscription to change: buy a first plan through checkout (POST /v1/billing/checkout).");

    private static ProblemException NoPendingChange() => new(404, "no_pending_change", "The organization has no scheduled plan change.");
}
