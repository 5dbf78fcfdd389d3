namespace Backstop.Features.ApiKeys;

/// <summary>
/// The ApiKeys slice's public face to other slices: whether an organization exists, and provisioning of
/// organizations and members by their external (Clerk) ids. Every method runs on the caller's connection (and
/// transaction, where it writes), so
/// what it writes commits or rolls back together with the caller's own writes (for a webhook: with the event's
/// "processed" mark). Every method is idempotent by external ids and safe under concurrent calls: uniqueness is
/// decided by the database (unique indexes + <c>on conflict</c>), never by read-then-write.
/// </summary>
public interface IOrganizationDirectory
{
    /// <summary>Whether a live (not deleted) organization has this id: other slices' admin endpoints answer 404 otherwise.</summary>
    Task<bool> ExistsAsync(DbConnection connection, string organizationId, CancellationToken ct);

    /// <summary>Creates the organization (if no organization has this external id) and the member (if the organization has no member with this external user id); updates the role of an existing member.</summary>
    Task<ProvisionResult> ProvisionAsync(DbConnection connection, DbTransaction transaction, ProvisionRequest request, CancellationToken ct);

    /// <summary>Removes (soft-deletes) the memberships of this external user in every organization; returns how many were removed.</summary>
    Task<int> RemoveExternalUserAsync(DbConnection connection, DbTransaction transaction, string externalUserId, CancellationToken ct);

    /// <summary>
    /// Where a notification about something of <paramref name="externalUserId"/> goes: that member's email when the
    /// organization has that member with an email, else the emails of the organization's owners.
    /// </summary>
    Task<IReadOnlyList<string>> NotificationEmailsAsync(DbConnection connection, DbTransaction transaction, string organizationId, string? externalUserId, CancellationToken ct);

    /// <summary>The organization's live (not removed) members: the source the <c>team_members</c> usage is counted from.</summary>
    Task<long> CountMembersAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct);
}

/// <param name="ExternalOrganizationId">The organization's id at the identity provider (Clerk <c>org_…</c>, or the user id for a personal organization).</param>
/// <param name="Role"><c>owner</c>, <c>admin</c> or <c>member</c>.</param>
public sealed record ProvisionRequest(
    string ExternalOrganizationId,
    string OrganizationName,
    string? OrganizationSlug,
    string ExternalUserId,
    string? Email,
    string? DisplayName,
    string Role);

public sealed record ProvisionResult(string OrganizationId, string MemberId, bool OrganizationCreated, bool MemberCreated);
