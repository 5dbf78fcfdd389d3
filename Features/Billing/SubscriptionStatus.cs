namespace Backstop.Features.Billing;

/// <summary>Subscription statuses: Stripe's, plus Backstop's own <see cref="Suspended"/>.</summary>
internal static class SubscriptionStatus
{
    public const string Incomplete = "incomplete";
    public const string IncompleteExpired = "incomplete_expired";
    public const string Trialing = "trialing";
    public const string Active = "active";
    public const string PastDue = "past_due";
    public const string Canceled = "canceled";
    public const string Unpaid = "unpaid";
    public const string Paused = "paused";

    /// <summary>Past due after the grace period ended (set by the <c>billing-grace-expiry</c> job, never by Stripe).</summary>
    public const string Suspended = "suspended";

    /// <summary>Statuses whose plan is in force. Stripe's <c>unpaid</c> (retries exhausted) is gated like <see cref="Suspended"/>.</summary>
    public static bool IsLive(string status) => status is Trialing or Active or PastDue or Suspended or Unpaid or Paused;
}
