using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Billing emails to an organization's owners, through the outbox in the caller's transaction. Each message's
/// idempotency key is the operation's key plus the recipient, so a repeated operation (a redelivered event, a second
/// event for the same attempt, a second job run) stores nothing new.
/// </summary>
internal sealed class BillingNotices(IOutbox outbox, IOrganizationDirectory directory)
{
    /// <summary>The owners' addresses (the directory's answer for no particular member).</summary>
    public Task<IReadOnlyList<string>> OwnersAsync(DbConnection connection, DbTransaction tx, string organizationId, CancellationToken ct) =>
        directory.NotificationEmailsAsync(connection, tx, organizationId, null, ct);

    public static IEnumerable<OutboxEnvelope> To(IEnumerable<string> recipients, string key, EmailContent content, string? reference) =>
        recipients.Select(r => r.Trim()).Where(r => r.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(r => OutboxEmail.Create($"{key}:{r.ToLowerInvariant()}", r, content, reference));

    /// <summary>Emails the owners; answers how many messages were new.</summary>
    public async Task<int> ToOwnersAsync(DbConnection connection, DbTransaction tx, string organizationId, string key, EmailContent content,
        string? reference, CancellationToken ct)
    {
        // Tagged with the organization: deleting it cancels what is still pending (OrganizationDeletion).
        var messages = To(await OwnersAsync(connection, tx, organizationId, ct), key, content, reference)
            .Select(m => m with { OrganizationId = organizationId }).ToList();
        return messages.Count == 0 ? 0 : await outbox.EnqueueManyAsync(connection, tx, messages, ct);
    }

    public Task<int> EnqueueAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<OutboxEnvelope> messages, CancellationToken ct) =>
        messages.Count == 0 ? Task.FromResult(0) : outbox.EnqueueManyAsync(connection, tx, messages, ct);
}
