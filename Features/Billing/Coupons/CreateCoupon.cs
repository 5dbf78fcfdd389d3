using FastEndpoints;

namespace Backstop.Features.Billing.Coupons;

internal sealed record CreateCouponRequest
{
    /// <summary>What customers type; case-insensitive (stored upper-case): letters, digits, <c>-</c> and <c>_</c>.</summary>
    public string Code { get; init; } = "";
    /// <summary>Percent off (0–100], or <see cref="AmountOff"/> with <see cref="Currency"/>.</summary>
    public double? PercentOff { get; init; }
    /// <summary>Amount off in minor units of <see cref="Currency"/>.</summary>
    public long? AmountOff { get; init; }
    public string? Currency { get; init; }
    /// <summary><c>once</c>, <c>repeating</c> (with <see cref="DurationInMonths"/>) or <c>forever</c>, as at Stripe.</summary>
    public string Duration { get; init; } = "";
    public int? DurationInMonths { get; init; }
    /// <summary>The coupon's id at Stripe (created there with the same discount and max_redemptions).</summary>
    public string StripeCouponId { get; init; } = "";
    public int? MaxRedemptions { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public bool FirstTimeOnly { get; init; }
    public bool Active { get; init; } = true;
}

/// <summary><c>POST /v1/admin/coupons</c>.</summary>
internal sealed class CreateCoupon(Db db, IAuditLog audit, TimeProvider time) : Endpoint<CreateCouponRequest, CouponResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/coupons");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Create a coupon (409 coupon_exists when the code is taken).");
        Description(d => d.Answers<CouponResponse>(201).Problems(409));
    }

    public sealed class Validator : Validator<CreateCouponRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Code).NotEmpty().WithMessage("code is required.").MaximumLength(64).WithMessage("code must be at most 64 characters.")
                .Matches("^[A-Za-z0-9_-]+$").WithMessage("code may hold letters, digits, '-' and '_' only.");
            RuleFor(r => r).Must(r => (r.PercentOff is null) != (r.AmountOff is null)).WithName("percentOff")
                .WithMessage("exactly one of percentOff and amountOff is required.");
            RuleFor(r => r.PercentOff).Must(p => p is null || p is > 0 and <= 100).WithMessage("percentOff must be greater than 0 and at most 100.");
            RuleFor(r => r.AmountOff).Must(a => a is null || a > 0).WithMessage("amountOff must be a positive amount in minor units.");
            RuleFor(r => r.Currency).NotEmpty().When(r => r.AmountOff is not null).WithMessage("currency is required with amountOff.");
            RuleFor(r => r.Currency).Matches("^[A-Za-z]{3}$").When(r => r.Currency is not null).WithMessage("currency must be an ISO 4217 code (eur, usd, …).");
            RuleFor(r => r.Duration).Must(d => d is "once" or "repeating" or "forever").WithMessage("duration must be once, repeating or forever.");
            RuleFor(r => r.DurationInMonths).NotNull().GreaterThan(0).When(r => r.Duration == "repeating")
                .WithMessage("durationInMonths (a positive number) is required with duration repeating.");
            RuleFor(r => r.DurationInMonths).Null().When(r => r.Duration != "repeating").WithMessage("durationInMonths is only for duration repeating.");
            RuleFor(r => r.StripeCouponId).NotEmpty().WithMessage("stripeCouponId is required.").MaximumLength(200)
                .WithMessage("stripeCouponId must be at most 200 characters.");
            RuleFor(r => r.StripeCouponId).NoControlCharacters("stripeCouponId");
            RuleFor(r => r.MaxRedemptions).Must(m => m is null || m > 0).WithMessage("maxRedemptions must be positive (or left out for no limit).");
        }
    }

    public override async Task HandleAsync(CreateCouponRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var row = new CouponRow
        {
            Id = Ids.New(time), Code = CouponSql.Normalize(req.Code), PercentOff = req.PercentOff, AmountOff = req.AmountOff,
            Currency = req.Currency?.ToLowerInvariant(), Duration = req.Duration, DurationInMonths = req.DurationInMonths,
            StripeCouponId = req.StripeCouponId.Trim(), MaxRedemptions = req.MaxRedemptions, ExpiresAt = req.ExpiresAt,
            FirstTimeOnly = req.FirstTimeOnly, Active = req.Active, CreatedAt = now, UpdatedAt = now,
        };
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                $"""
                insert into coupons ({CouponSql.Columns})
                values (@Id, @Code, @PercentOff, @AmountOff, @Currency, @Duration, @DurationInMonths, @StripeCouponId, @MaxRedemptions,
                        0, @ExpiresAt, @FirstTimeOnly, @Active, @CreatedAt, @UpdatedAt)
                on conflict (code) do nothing
                """, row, tx, cancellationToken: ct));
            if (inserted == 0) throw new ProblemException(409, "coupon_exists", $"A coupon with code {row.Code} already exists.");
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.CouponCreate, "coupon", row.Code, Changes: CouponAudit.Of(row)), ct);
        }, ct);
        await Send.ResponseAsync(CouponResponse.From(row), 201, ct);
    }
}
