namespace Backstop.Features.Billing;

/// <summary>
/// Which subscription pays for an organization, asked on the caller's transaction (a webhook handler running beside
/// Billing's own in the same delivery). Quota uses it so that only the paying subscription's renewals move the
/// organization's usage periods.
/// </summary>
public interface ISubscriptionOwnership
{
    Task<SubscriptionStanding> StandingAsync(DbConnection connection, DbTransaction transaction, string organizationId, string provider,
        string? providerSubscriptionId, CancellationToken ct);
}

public enum SubscriptionStanding
{
    /// <summary>The organization's live subscription in Billing is this one.</summary>
    Pays,

    /// <summary>
    /// Not the paying one: the organization's live subscription is another (this one is secondary), or Billing knows
    /// this subscription as not live (cancelled, expired) or as another organization's.
    /// </summary>
    DoesNotPay,

    /// <summary>Billing knows neither a live subscription of the organization nor this subscription (not recorded yet, or not billed through Billing).</summary>
    Unknown,
}
