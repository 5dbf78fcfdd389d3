namespace Backstop.Features.Billing.Coupons;

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
