using System.Security.Cryptography;
using System.Text;
using Backstop.Features.Billing.Coupons;
using Backstop.Features.Billing.Plans;
using Backstop.Infrastructure.Providers.Stripe;
using FastEndpoints;
using Stripe;
using Stripe.Checkout;

namespace Backstop.Features.Billing.Subscriptions;

internal sealed record CheckoutRequest
{
    /// <summary>The plan's code.</summary>
    public string Plan { get; init; } = "";
    public string SuccessUrl { get; init; } = "";
    public string CancelUrl { get; init; } = "";
    /// <summary>A coupon held from session creation (given back when the session expires) and passed to Stripe.</summary>
    public string? CouponCode { get; init; }
}

/// <param name="TrialDays">The trial this checkout offers, or null (a plan without trial days, or the organization's trial was used).</param>
internal sealed record CheckoutResponse(string Url, string SessionId, int? TrialDays);

/// <summary>
/// <c>POST /v1/billing/checkout</c>: a Stripe Checkout Session (subscription mode) for the plan, on the organization's
/// one Stripe customer. Its idempotency key is derived from the organization, the plan and the request (the client's
/// <c>Idempotency-Key</c> header, else a hash of the body), so a retried request gets the same session back.
/// The trial is taken when the session is created (see <see cref="TakeTrialAsync"/>).
/// </summary>
internal sealed class Checkout(Db db, StripeApi api, StripeCustomers customers, CouponRedemptions coupons, IAuditLog audit, IOutbox outbox, TimeProvider time) : Endpoint<CheckoutRequest, CheckoutResponse>
{
    public override void Configure()
    {
        Post("/v1/billing/checkout");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Start a Stripe Checkout for a plan (scope admin): answers the checkout page's URL.");
        Description(d => d.Problems(404, 409, 502, 503));
    }

    public sealed class Validator : Validator<CheckoutRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Plan).NotEmpty().WithMessage("plan is required.").Matches(PlanRules.CodePattern()).WithErrorCode("invalid_plan_code")
                .WithMessage("plan must be a plan code.");
            RuleFor(r => r.SuccessUrl).Must(IsWebUrl).WithErrorCode("invalid_url").WithMessage("successUrl must be an absolute http(s) URL of at most 2048 characters.");
            RuleFor(r => r.CancelUrl).Must(IsWebUrl).WithErrorCode("invalid_url").WithMessage("cancelUrl must be an absolute http(s) URL of at most 2048 characters.");
            RuleFor(r => r.CouponCode).MaximumLength(64).WithMessage("couponCode must be at most 64 characters.");
        }

        private static bool IsWebUrl(string url) =>
            url.Length <= 2048 && Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme is "http" or "https";
    }

    public override async Task HandleAsync(CheckoutRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        var key = RequestKey(req);
        if (key is null) throw new ProblemException(400, "invalid_idempotency_key", "The Idempotency-Key header must be 1-200 printable ASCII characters.");

        PlanRecord plan;
        await using (var connection = await db.OpenAsync(ct))
            plan = await PlanStore.FindAsync(connection, null, req.Plan, ct) ?? throw PlanStore.NotFound(req.Plan);
        if (!plan.Active) throw new ProblemException(409, "plan_inactive", $"The plan '{plan.Code}' is no longer offered.");
        if (plan.StripePriceId is null)
            throw new ProblemException(409, "plan_not_purchasable", $"The plan '{plan.Code}' has no Stripe price (a free plan needs no checkout).");
        _ = api.Client;

        var sessionKey = $"checkout:{organizationId}:{plan.Code}:{Hash(key)[..32]}";
        // One checkout in flight per organization and none beside a live subscription: claimed before any Stripe call.
        var stripeKey = sessionKey;
        await using (var connection = await db.OpenAsync(ct))
        {
            var claims = await CheckoutSessions.ClaimAsync(connection, organizationId, sessionKey, plan.Code, time.GetUtcNow(), ct);
            if (claims is > 0) stripeKey = $"{sessionKey}:c{claims}";
            if (claims is null)
            {
                var subscription = await BillingSql.FindSubscriptionAsync(connection, null, organizationId, ct);
                if (subscription is { Live: true })
                    throw new ProblemException(409, "subscription_exists",
                        $"The organization already has a {subscription.Status} subscription on the plan '{subscription.PlanCode}'; change its plan with POST /v1/billing/plan-change.")
                    {
                        Extensions = new Dictionary<string, object?> { ["subscriptionStatus"] = subscription.Status, ["plan"] = subscription.PlanCode, ["planChange"] = "/v1/billing/plan-change" },
                    };
                var open = await CheckoutSessions.FindAsync(connection, null, organizationId, ct);
                if (open?.Status == CheckoutSessions.Deleted) throw ProblemException.NotFound("Organization");
                // A retried click (same request) gets its session back, not a second one.
                if (open is { Status: CheckoutSessions.Open, SessionId: { } sid, Url: { } url } && open.SessionKey == sessionKey)
                {
                    await Send.OkAsync(new CheckoutResponse(url, sid, open.TrialDays), ct);
                    return;
                }
                throw new ProblemException(409, "subscription_exists",
                    open?.Url is null
                        ? "A checkout of this organization is being opened; try again in a moment, or change the plan with POST /v1/billing/plan-change once subscribed."
                        : $"A checkout of this organization is already open (plan '{open.PlanCode}'): complete it at checkoutUrl, or change the plan with POST /v1/billing/plan-change once subscribed.",
                    open?.Url is null ? new Dictionary<string, string> { ["Retry-After"] = "5" } : null)
                {
                    Extensions = new Dictionary<string, object?>
                    {
                        ["checkoutUrl"] = open?.Url, ["sessionId"] = open?.SessionId, ["plan"] = open?.PlanCode, ["planChange"] = "/v1/billing/plan-change",
                    },
                };
            }
        }

        CouponHold? hold = null;
        var trialTaken = false;
        Session? session = null;
        try
        {
            // Held before the trial is taken (a first-time coupon looks for a trial) and before any Stripe call (a refused
            // coupon costs nothing); a retry of this checkout gets the same hold back.
            hold = string.IsNullOrWhiteSpace(req.CouponCode) ? null
                : await db.InTransactionAsync((c, tx) => coupons.HoldAsync(c, tx, req.CouponCode, organizationId, sessionKey, ct), ct);
            var customerId = await customers.EnsureAsync(organizationId, ct);
            bool trial;
            (trial, trialTaken) = plan.TrialDays > 0 ? await TakeTrialAsync(organizationId, plan.Code, sessionKey, ct) : (false, false);
            var metadata = new Dictionary<string, string> { ["organization_id"] = organizationId, ["plan"] = plan.Code };
            if (hold is not null) metadata[CouponRedemptions.SessionMetadataKey] = hold.RedemptionId;
            session = await new SessionService(api.Client).CreateAsync(new SessionCreateOptions
            {
                Mode = "subscription",
                Customer = customerId,
                ClientReferenceId = organizationId,
                Metadata = metadata,
                LineItems = [new SessionLineItemOptions { Price = plan.StripePriceId, Quantity = 1 }],
                SubscriptionData = new SessionSubscriptionDataOptions { Metadata = metadata, TrialPeriodDays = trial ? plan.TrialDays : null },
                SuccessUrl = req.SuccessUrl,
                CancelUrl = req.CancelUrl,
                Discounts = hold is null ? null : [new SessionDiscountOptions { Coupon = hold.StripeCouponId }],
            }, StripeApi.Idempotent(stripeKey), ct);
            var now = time.GetUtcNow();
            var expiresAt = session.ExpiresAt > now.UtcDateTime ? new DateTimeOffset(DateTime.SpecifyKind(session.ExpiresAt, DateTimeKind.Utc)) : now + CheckoutSessions.SessionLifetime;
            int? trialDays = trial ? plan.TrialDays : null;
            var created = session;
            var orphaned = await db.InTransactionAsync(async (c, tx) =>
            {
                if (await CheckoutSessions.RecordSessionAsync(c, tx, organizationId, sessionKey, created.Id, created.Url, trialDays, expiresAt, now, CancellationToken.None) == 0
                    && (await CheckoutSessions.FindAsync(c, tx, organizationId, CancellationToken.None))?.Status == CheckoutSessions.Deleted)
                {
                    // The organization was deleted while Stripe created the session: it must never be completed.
                    await outbox.EnqueueAsync(c, tx, StripeCheckoutChannel.Expire(created.Id), CancellationToken.None);
                    return true;
                }
                if (hold is not null) await coupons.AttachCheckoutSessionAsync(c, tx, hold.RedemptionId, created.Id, CancellationToken.None);
                await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SubscriptionCheckout, "checkout_session", created.Id, organizationId,
                    new { plan = plan.Code, trialDays, coupon = hold is null ? null : req.CouponCode?.Trim().ToUpperInvariant() }), CancellationToken.None);
                return false;
            }, CancellationToken.None);
            if (orphaned) throw ProblemException.NotFound("Organization");
            await Send.OkAsync(new CheckoutResponse(session.Url, session.Id, trialDays), ct);
        }
        catch (Exception e) when (session is null)
        {
            // No session was created: give back what this checkout took (the claim, the coupon hold, a trial it took
            // now). Once a session exists it holds them until it completes or expires. A retry takes them again.
            await db.InTransactionAsync(async (c, tx) =>
            {
                await CheckoutSessions.AbandonAsync(c, tx, organizationId, sessionKey, time.GetUtcNow(), CancellationToken.None);
                if (hold is not null) await coupons.ReleaseAsync(c, tx, hold.RedemptionId, CancellationToken.None);
                if (trialTaken)
                    await c.ExecuteAsync(new CommandDefinition(
                        "delete from organization_trials where organization_id = @organizationId and checkout_key = @sessionKey",
                        new { organizationId, sessionKey }, tx));
            }, CancellationToken.None);
            throw StripeErrors.IsStripeFailure(e, ct) ? StripeErrors.Problem(e, "nothing was charged") : e;
        }
        catch (Exception e) when (StripeErrors.IsStripeFailure(e, ct))
        {
            throw StripeErrors.Problem(e, "nothing was charged");
        }
    }

    /// <summary>
    /// The organization's one trial, taken by this checkout if it never had a subscription and no checkout took the
    /// trial before: one <c>insert … on conflict do nothing</c>, so concurrent checkouts cannot both get it. A retry of
    /// the checkout that took it (same session key) gets it again, because Stripe refuses an idempotency key repeated
    /// with other parameters. Taken at session creation rather than when Stripe confirms a trialing subscription,
    /// because the session's parameters are where the trial is decided: deciding later would let every checkout opened
    /// before the first one completes offer a trial. The price: a trial offered in a checkout that is then abandoned is used up.
    /// </summary>
    /// <returns>Whether the checkout offers the trial, and whether this call took it (so a failure gives it back).</returns>
    private async Task<(bool Granted, bool TakenNow)> TakeTrialAsync(string organizationId, string planCode, string sessionKey, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var taken = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into organization_trials (organization_id, plan_code, granted_at, checkout_key)
            select @organizationId, @planCode, @now, @sessionKey
            where not exists (select 1 from subscriptions where organization_id = @organizationId)
            on conflict (organization_id) do nothing
            returning organization_id
            """, new { organizationId, planCode, now = time.GetUtcNow(), sessionKey }, cancellationToken: ct));
        if (taken is not null) return (true, true);
        var holder = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select checkout_key from organization_trials where organization_id = @organizationId", new { organizationId }, cancellationToken: ct));
        return (holder == sessionKey, false);
    }

    /// <summary>The client's Idempotency-Key, else the body's fields: what makes two requests "the same checkout".</summary>
    private string? RequestKey(CheckoutRequest req)
    {
        var header = HttpContext.Request.Headers["Idempotency-Key"].ToString();
        if (header.Length == 0) return "body:" + string.Join('\n', req.Plan, req.SuccessUrl, req.CancelUrl, req.CouponCode ?? "");
        return header.Length <= 200 && header.All(c => c is >= ' ' and <= '~') ? "header:" + header : null;
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
