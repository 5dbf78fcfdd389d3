using FastEndpoints;

namespace Backstop.Features.Billing.Coupons;

/// <summary>What the audit log records of a coupon (its code is the entry's target: the log redacts properties named <c>code</c>).</summary>
internal static class CouponAudit
{
    public static object Of(CouponRow r) => new
    {
        r.PercentOff, r.AmountOff, r.Currency, r.Duration, r.DurationInMonths, r.StripeCouponId, r.MaxRedemptions, r.ExpiresAt, r.FirstTimeOnly, r.Active,
    };
}
