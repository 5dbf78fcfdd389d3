namespace Backstop.Features.Billing.Coupons;

/// <param name="RedemptionId">The <c>coupon_redemptions</c> row: put it in the checkout session's metadata (<c>coupon_redemption</c>).</param>
/// <param name="StripeCouponId">What Stripe gets in <c>discounts[0][coupon]</c>.</param>
internal sealed record CouponHold(string RedemptionId, string CouponCode, string StripeCouponId);

/// <summary>
/// Redemption of coupons, for the checkout and for plan changes, on the caller's connection and transaction.
/// </summary>
/// <remarks>
/// The database decides (never read-then-write): the redemption row is inserted first, unique per (coupon,
/// organization), so a second redemption by the same organization finds the row and changes nothing; then one
/// conditional update on the coupon (<c>times_redeemed &lt; max_redemptions</c>, active, not expired) counts it, so 20
/// concurrent redemptions of a coupon with 5 left count exactly 5. Both run under a savepoint: a refused redemption
/// leaves the caller's transaction as it was. A row released by an expired checkout is taken over by the
/// organization's next redemption (the same conditional update counts it again).
/// "Never had a subscription" (for <c>firstTimeOnly</c>) means: no <c>subscriptions</c> row (whatever its status — a
/// canceled subscription keeps its row) and no <c>organization_trials</c> row (a trial was given at a checkout even if
/// it never completed). A checkout must therefore hold its coupon before it records the trial.
/// </remarks>
internal sealed class CouponRedemptions(TimeProvider time)
{
    public const string SessionMetadataKey = "coupon_redemption";

    /// <summary>
    /// Holds one redemption of <paramref name="code"/> for the organization (counted at once). Throws 404
    /// <c>coupon_not_found</c>, or 409 <c>coupon_inactive</c>, <c>coupon_expired</c>, <c>coupon_first_time_only</c>,
    /// <c>coupon_already_redeemed</c>, <c>coupon_exhausted</c>; the transaction is then unchanged.
    /// <paramref name="reference"/> says who holds it (a checkout's own reference, <c>plan-change:…</c>); holding again
    /// under the same reference returns the same hold without counting it twice.
    /// </summary>
    public async Task<CouponHold> HoldAsync(DbConnection connection, DbTransaction tx, string code, string organizationId, string reference, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var coupon = await CouponSql.FindAsync(connection, tx, code, ct) ?? throw NotFound(code);
        // A retry of the same operation (a checkout retried with its idempotency key) gets its own hold back, counted once,
        // before any rule is checked again: the trial that checkout took since must not make its own coupon "not first-time".
        var own = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "select id from coupon_redemptions where coupon_id = @couponId and organization_id = @organizationId and state = 'held' and reference = @reference",
            new { couponId = coupon.Id, organizationId, reference }, tx, cancellationToken: ct));
        if (own is not null) return new CouponHold(own, coupon.Code, coupon.StripeCouponId);
        if (!coupon.Active) throw Refused(coupon, now);
        if (coupon.ExpiresAt is { } expires && expires <= now) throw Refused(coupon, now);
        if (coupon.FirstTimeOnly && await HadSubscriptionAsync(connection, tx, organizationId, ct))
            throw new ProblemException(409, "coupon_first_time_only", $"Coupon {coupon.Code} is only for organizations that never had a subscription.");

        await tx.SaveAsync("coupon_hold", ct);
        var id = Ids.New(time);
        // A released row (its checkout expired) is taken over; a held or redeemed one is not: no row comes back.
        var redemptionId = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            """
            insert into coupon_redemptions (id, coupon_id, organization_id, state, reference, created_at, updated_at)
            values (@id, @couponId, @organizationId, 'held', @reference, @now, @now)
            on conflict (coupon_id, organization_id) do update
                set state = 'held', reference = excluded.reference, checkout_session_id = null, released_at = null, updated_at = excluded.updated_at
                where coupon_redemptions.state = 'released'
            returning id
            """, new { id, couponId = coupon.Id, organizationId, reference, now }, tx, cancellationToken: ct));
        if (redemptionId is null)
        {
            await tx.RollbackAsync("coupon_hold", ct);
            throw new ProblemException(409, "coupon_already_redeemed", $"This organization has already redeemed coupon {coupon.Code}.");
        }

        var counted = await connection.ExecuteAsync(new CommandDefinition(
            """
            update coupons set times_redeemed = times_redeemed + 1, updated_at = @now
            where id = @couponId and active
              and (max_redemptions is null or times_redeemed < max_redemptions)
              and (expires_at is null or expires_at > @now)
            """, new { couponId = coupon.Id, now }, tx, cancellationToken: ct));
        if (counted == 0)
        {
            await tx.RollbackAsync("coupon_hold", ct);
            // Read again: what made the update miss may have changed since the first read (deactivated, exhausted).
            throw Refused(await CouponSql.FindAsync(connection, tx, code, ct) ?? coupon, now);
        }
        await tx.ReleaseAsync("coupon_hold", ct);
        return new CouponHold(redemptionId, coupon.Code, coupon.StripeCouponId);
    }

    /// <summary>Records which Checkout Session holds the redemption, so that its <c>checkout.session.expired</c> gives it back.</summary>
    public Task AttachCheckoutSessionAsync(DbConnection connection, DbTransaction tx, string redemptionId, string checkoutSessionId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "update coupon_redemptions set checkout_session_id = @checkoutSessionId, updated_at = @now where id = @redemptionId and state = 'held'",
            new { redemptionId, checkoutSessionId, now = time.GetUtcNow() }, tx, cancellationToken: ct));

    /// <summary>The hold went through (checkout completed, plan change applied). False when it was not held.</summary>
    public async Task<bool> ConfirmAsync(DbConnection connection, DbTransaction tx, string redemptionId, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "update coupon_redemptions set state = 'redeemed', updated_at = @now where id = @redemptionId and state = 'held'",
            new { redemptionId, now = time.GetUtcNow() }, tx, cancellationToken: ct)) == 1;

    /// <summary>Gives a held redemption back (its checkout expired, its plan change failed): once, whatever the number of calls.</summary>
    public Task<bool> ReleaseAsync(DbConnection connection, DbTransaction tx, string redemptionId, CancellationToken ct) =>
        ReleaseWhereAsync(connection, tx, "id = @redemptionId", new { redemptionId }, ct);

    /// <summary>Gives back the redemption a Checkout Session held (by its session id, or the id in its metadata).</summary>
    public Task<bool> ReleaseCheckoutAsync(DbConnection connection, DbTransaction tx, string checkoutSessionId, string? redemptionId, CancellationToken ct) =>
        ReleaseWhereAsync(connection, tx, "(checkout_session_id = @checkoutSessionId or id = @redemptionId)", new { checkoutSessionId, redemptionId = redemptionId ?? "" }, ct);

    /// <summary>Marks the redemption a completed Checkout Session held as redeemed.</summary>
    public async Task<bool> ConfirmCheckoutAsync(DbConnection connection, DbTransaction tx, string checkoutSessionId, string? redemptionId, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update coupon_redemptions set state = 'redeemed', checkout_session_id = @checkoutSessionId, updated_at = @now
            where (checkout_session_id = @checkoutSessionId or id = @redemptionId) and state = 'held'
            """, new { checkoutSessionId, redemptionId = redemptionId ?? "", now = time.GetUtcNow() }, tx, cancellationToken: ct)) > 0;

    /// <summary>Gives back what the organization holds under <paramref name="reference"/> (a cancelled plan change).</summary>
    public Task<bool> ReleaseByReferenceAsync(DbConnection connection, DbTransaction tx, string organizationId, string reference, CancellationToken ct) =>
        ReleaseWhereAsync(connection, tx, "organization_id = @organizationId and reference = @reference", new { organizationId, reference }, ct);

    /// <summary>Confirms what the organization holds under <paramref name="reference"/> (a scheduled downgrade that took effect).</summary>
    public async Task<bool> ConfirmByReferenceAsync(DbConnection connection, DbTransaction tx, string organizationId, string reference, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "update coupon_redemptions set state = 'redeemed', updated_at = @now where organization_id = @organizationId and reference = @reference and state = 'held'",
            new { organizationId, reference, now = time.GetUtcNow() }, tx, cancellationToken: ct)) > 0;

    private async Task<bool> ReleaseWhereAsync(DbConnection connection, DbTransaction tx, string where, object args, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var parameters = new DynamicParameters(args);
        parameters.Add("now", now);
        // The state change is the arbiter: only the call that moves the row from held gives the count back.
        var couponIds = (await connection.QueryAsync<string>(new CommandDefinition(
            $"update coupon_redemptions set state = 'released', released_at = @now, updated_at = @now where {where} and state = 'held' returning coupon_id",
            parameters, tx, cancellationToken: ct))).ToList();
        foreach (var couponId in couponIds)
            await connection.ExecuteAsync(new CommandDefinition(
                "update coupons set times_redeemed = times_redeemed - 1, updated_at = @now where id = @couponId and times_redeemed > 0",
                new { couponId, now }, tx, cancellationToken: ct));
        return couponIds.Count > 0;
    }

    private static async Task<bool> HadSubscriptionAsync(DbConnection connection, DbTransaction tx, string organizationId, CancellationToken ct) =>
        await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            select (select count(*) from subscriptions where organization_id = @organizationId)
                 + (select count(*) from organization_trials where organization_id = @organizationId)
            """, new { organizationId }, tx, cancellationToken: ct)) > 0;

    private static ProblemException NotFound(string code) =>
        new(404, "coupon_not_found", $"There is no coupon {CouponSql.Normalize(code)}.");

    private static ProblemException Refused(CouponRow coupon, DateTimeOffset now) =>
        !coupon.Active ? new(409, "coupon_inactive", $"Coupon {coupon.Code} is no longer active.")
        : coupon.ExpiresAt is { } e && e <= now ? new(409, "coupon_expired", $"Coupon {coupon.Code} expired at {e:yyyy-MM-dd HH:mm} UTC.")
        : new(409, "coupon_exhausted", $"Coupon {coupon.Code} has been redeemed the most times it allows ({coupon.MaxRedemptions}).");
}
