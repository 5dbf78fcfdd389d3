namespace Backstop.Features.ApiKeys;

/// <summary>
/// What of an organization's data a slice still holds, as named counts (<c>sms_messages: 12</c>): shown by
/// <c>GET /v1/admin/organizations/{id}</c> for a deleted organization, so the operator sees the deletion progress as
/// the retention sweeps remove what they remove. A slice that keeps data of an organization implements it (read-only,
/// on a connection of its own); zero everywhere means the deletion is complete. Registered as a singleton.
/// </summary>
public interface IOrganizationDataReport
{
    Task<IReadOnlyDictionary<string, long>> RemainingAsync(string organizationId, CancellationToken ct);
}
