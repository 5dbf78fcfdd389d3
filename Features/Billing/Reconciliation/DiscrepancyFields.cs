using System.Net;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.Reconciliation;

/// <summary>Fields of <c>billing_discrepancies</c> written by events that were refused rather than applied.</summary>
internal static class DiscrepancyFields
{
    /// <summary>An event for an organization that already has a different live subscription: not applied.</summary>
    public const string SubscriptionConflict = "subscription_conflict";

    /// <summary>An event whose metadata/custom_data names another organization than the existing mapping: not applied.</summary>
    public const string Organization = "organization";

    /// <summary>An event that would move a subscription to another provider: not applied.</summary>
    public const string ProviderConflict = "provider";

    /// <summary>A subscription for a deleted organization: cancelled at the provider.</summary>
    public const string DeletedOrganization = "deleted_organization";

    /// <summary>A Paddle event without a valid server-issued checkout reference for a subscription not yet mapped.</summary>
    public const string UnsignedReference = "checkout_reference";
}
