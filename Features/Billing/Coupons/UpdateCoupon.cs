using FastEndpoints;

namespace Backstop.Features.Billing.Coupons;

/// <summary>Fields left out stay as they are. The discount itself (percent/amount, duration, Stripe id) cannot change: Stripe's coupons cannot either.</summary>
internal sealed record UpdateCouponRequest
{
    public string Code { get; init; } = "";
    public bool? Active { get; init; }
    /// <summary>Not below <c>timesRedeemed</c> (409 <c>max_redemptions_below_redeemed</c>).</summary>
    public int? MaxRedemptions { get; init; }
    /// <summary>True removes the limit.</summary>
    public bool? ClearMaxRedemptions { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>True removes the expiry.</summary>
    public bool? ClearExpiresAt { get; init; }
    public bool? FirstTimeOnly { get; init; }
}

/// <summary><c>PATCH /v1/admin/coupons/{code}</c>.</summary>
internal sealed class UpdateCoupon(Db db, IAuditLog audit, TimeProvider time) : Endpoint<UpdateCouponRequest, CouponResponse>
{
    public override void Configure()
    {
        Patch("/v1/admin/coupons/{code}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Change a coupon's active flag, maxRedemptions, expiresAt or firstTimeOnly.");
        Description(d => d.Problems(404, 409));
    }

    public sealed class Validator : Validator<UpdateCouponRequest>
    {
        public Validator()
        {
            RuleFor(r => r.MaxRedemptions).Must(m => m is null || m > 0).WithMessage("maxRedemptions must be positive.");
            RuleFor(r => r).Must(r => !(r.MaxRedemptions is not null && r.ClearMaxRedemptions == true)).WithName("maxRedemptions")
                .WithMessage("maxRedemptions and clearMaxRedemptions cannot both be given.");
            RuleFor(r => r).Must(r => !(r.ExpiresAt is not null && r.ClearExpiresAt == true)).WithName("expiresAt")
                .WithMessage("expiresAt and clearExpiresAt cannot both be given.");
        }
    }

    public override async Task HandleAsync(UpdateCouponRequest req, CancellationToken ct)
    {
        var code = CouponSql.Normalize(req.Code);
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var now = time.GetUtcNow();
            // One conditional update: a lower limit never goes below what concurrent redemptions have already counted.
            var updated = await connection.QuerySingleOrDefaultAsync<CouponRow>(new CommandDefinition(
                $"""
                update coupons set
                    active = coalesce(@Active, active),
                    max_redemptions = case when @clearMax then null else coalesce(@MaxRedemptions, max_redemptions) end,
                    expires_at = case when @clearExpires then null else coalesce(@ExpiresAt, expires_at) end,
                    first_time_only = coalesce(@FirstTimeOnly, first_time_only),
                    updated_at = @now
                where code = @code and (@MaxRedemptions is null or @MaxRedemptions >= times_redeemed)
                returning {CouponSql.Columns}
                """,
                new
                {
                    req.Active, req.MaxRedemptions, clearMax = req.ClearMaxRedemptions == true, req.ExpiresAt,
                    clearExpires = req.ClearExpiresAt == true, req.FirstTimeOnly, now, code,
                }, tx, cancellationToken: ct));
            if (updated is null)
            {
                var existing = await CouponSql.FindAsync(connection, tx, code, ct) ?? throw ProblemException.NotFound("Coupon " + code);
                throw new ProblemException(409, "max_redemptions_below_redeemed",
                    $"Coupon {code} was already redeemed {existing.TimesRedeemed} times: maxRedemptions cannot be lower.");
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.CouponUpdate, "coupon", code, Changes: new
            {
                req.Active, req.MaxRedemptions, req.ClearMaxRedemptions, req.ExpiresAt, req.ClearExpiresAt, req.FirstTimeOnly,
            }), ct);
            return updated;
        }, ct);
        await Send.OkAsync(CouponResponse.From(row), ct);
    }
}
