namespace Backstop.Features.ApiKeys;

/// <summary>
/// The ApiKeys slice's public hook for slices that hold something of an organization that must end with it (Billing
/// cancels the subscription and the organization's pending outbox messages). Called inside the deletion's
/// transaction, after the organization row was marked deleted: whatever a listener writes (its rows, outbox
/// messages) commits together with the deletion or not at all, and a listener that throws makes the deletion fail.
/// Registered as a singleton; listeners run in registration order.
/// </summary>
public interface IOrganizationDeletionListener
{
    Task OnDeletingAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct);
}
