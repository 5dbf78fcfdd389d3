namespace Backstop.Features.Billing;

/// <summary>
/// <see cref="ISubscriptionOwnership"/>: two reads of <c>subscriptions</c>, both on the caller's connection and
/// transaction (a second connection would wait on SQLite's writer lock the delivery holds). Not named after the
/// interface: <c>Subscriptions.SubscriptionOwnership</c> (the binding rules) is another class, and a type of this
/// name in this namespace would shadow it in <c>SubscriptionsModule</c>'s registration.
/// </summary>
internal sealed class PayingSubscriptions : ISubscriptionOwnership
{
    public async Task<SubscriptionStanding> StandingAsync(DbConnection connection, DbTransaction transaction, string organizationId, string provider,
        string? providerSubscriptionId, CancellationToken ct)
    {
        var mine = await BillingSql.FindSubscriptionAsync(connection, transaction, organizationId, ct);
        if (mine is { Live: true })
            return providerSubscriptionId is not null && mine.Provider == provider && mine.ProviderSubscriptionId == providerSubscriptionId
                ? SubscriptionStanding.Pays
                : SubscriptionStanding.DoesNotPay;
        if (providerSubscriptionId is null) return SubscriptionStanding.Unknown;
        // Billing knows it, and it is not this organization's live subscription: cancelled, or another organization's.
        var known = await BillingSql.FindByProviderIdAsync(connection, transaction, provider, providerSubscriptionId, ct);
        return known is null ? SubscriptionStanding.Unknown : SubscriptionStanding.DoesNotPay;
    }
}
