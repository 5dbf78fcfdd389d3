namespace Backstop.Infrastructure.Audit;

/// <summary>
/// The record of who changed what. A slice writes an entry in the same transaction as the change it describes, so
/// the log holds exactly the changes that committed. The actor (the admin key, or the tenant key's prefix) and the
/// request id come from the current request; outside a request the entry's own <see cref="AuditEntry.Actor"/> is used.
/// </summary>
internal interface IAuditLog
{
    /// <summary>Writes the entry in <paramref name="transaction"/>. The action must be one of <see cref="AuditActions.All"/>.</summary>
    Task RecordAsync(DbConnection connection, DbTransaction transaction, AuditEntry entry, CancellationToken ct);

    /// <summary>
    /// Writes the entry in a transaction of its own: only for actions whose effect is not one transaction of ours
    /// (running a job, replaying a webhook through the inbox), recorded once the action returned.
    /// </summary>
    Task RecordAsync(AuditEntry entry, CancellationToken ct);
}

/// <param name="Action">What was done: one of <see cref="AuditActions"/>.</param>
/// <param name="TargetType">The kind of thing it was done to (<c>organization</c>, <c>api_key</c>, …).</param>
/// <param name="TargetId">Its id.</param>
/// <param name="OrganizationId">The tenant it belongs to, when it belongs to one.</param>
/// <param name="Changes">What changed (serialised as JSON). Never a secret: properties named like one are redacted anyway.</param>
/// <param name="Actor">Who did it when there is no authenticated request (a provider's webhook, a job).</param>
internal sealed record AuditEntry(
    string Action,
    string TargetType,
    string TargetId,
    string? OrganizationId = null,
    object? Changes = null,
    string? Actor = null);
