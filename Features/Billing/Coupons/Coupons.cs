using System.Data.Common;
using Dapper;

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

/// <summary>Redemption states of <c>coupon_redemptions</c>.</summary>
internal static class RedemptionState
{
    /// <summary>A checkout session (or a plan change in flight) holds it: counted in <c>times_redeemed</c>.</summary>
    public const string Held = "held";

    /// <summary>The checkout completed or the plan change went through: counted.</summary>
    public const string Redeemed = "redeemed";

    /// <summary>The checkout expired (or the plan change failed): given back, no longer counted.</summary>
    public const string Released = "released";
}

internal static class CouponSql
{
    public const string Columns =
        """
        id, code, percent_off, amount_off, currency, duration, duration_in_months, stripe_coupon_id, max_redemptions,
        times_redeemed, expires_at, first_time_only, active, created_at, updated_at
        """;

    /// <summary>Codes are case-insensitive: stored and looked up upper-case.</summary>
    public static string Normalize(string code) => code.Trim().ToUpperInvariant();

    public static Task<CouponRow?> FindAsync(DbConnection connection, DbTransaction? tx, string code, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<CouponRow>(new CommandDefinition(
            $"select {Columns} from coupons where code = @code", new { code = Normalize(code) }, tx, cancellationToken: ct));
}
