namespace Backstop.Features.Billing.Coupons;

/// <summary>A row of <c>coupons</c>.</summary>
internal sealed record CouponRow
{
    public string Id { get; init; } = "";
    public string Code { get; init; } = "";
    public double? PercentOff { get; init; }
    public long? AmountOff { get; init; }
    public string? Currency { get; init; }
    public string Duration { get; init; } = "";
    public int? DurationInMonths { get; init; }
    public string StripeCouponId { get; init; } = "";
    public int? MaxRedemptions { get; init; }
    public int TimesRedeemed { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public bool FirstTimeOnly { get; init; }
    public bool Active { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>A coupon as the operator API shows it.</summary>
internal sealed record CouponResponse(
    string Code,
    double? PercentOff,
    long? AmountOff,
    string? Currency,
    string Duration,
    int? DurationInMonths,
    string StripeCouponId,
    int? MaxRedemptions,
    int TimesRedeemed,
    DateTimeOffset? ExpiresAt,
    bool FirstTimeOnly,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static CouponResponse From(CouponRow r) => new(r.Code, r.PercentOff, r.AmountOff, r.Currency, r.Duration, r.DurationInMonths,
        r.StripeCouponId, r.MaxRedemptions, r.TimesRedeemed, r.ExpiresAt, r.FirstTimeOnly, r.Active, r.CreatedAt, r.UpdatedAt);
}
