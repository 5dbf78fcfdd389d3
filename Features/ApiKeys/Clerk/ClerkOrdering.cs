using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.ApiKeys.Clerk;

/// <summary>
/// Tolerates Clerk's out-of-order delivery (DESIGN §4.5): a <c>user.deleted</c> that arrives before an older
/// <c>user.created</c> or <c>organizationMembership.created</c> must win. Both kinds of event upsert the user's row in
/// <c>clerk_users</c> first, inside the inbox transaction: the row lock serialises a deletion and a creation of one user
/// processed at the same time (the database decides, not a read-then-write), and a creation is admitted only when no
/// deletion at or after its own timestamp is recorded.
/// </summary>
internal sealed class ClerkOrdering(TimeProvider time)
{
    /// <summary>True when a creation event of <paramref name="userId"/> at <paramref name="eventAt"/> (ms) may provision.</summary>
    public async Task<bool> AdmitCreationAsync(WebhookContext context, string userId, long eventAt, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var admitted = await context.Connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into clerk_users (external_user_id, deleted_event_at, created_at, updated_at)
            values (@userId, null, @now, @now)
            on conflict (external_user_id) do update set updated_at = excluded.updated_at
                where clerk_users.deleted_event_at is null or clerk_users.deleted_event_at < @eventAt
            returning external_user_id
            """, new { userId, eventAt, now }, context.Transaction, cancellationToken: ct));
        return admitted is not null;
    }

    /// <summary>Records a deletion of <paramref name="userId"/> at <paramref name="eventAt"/> (ms), keeping the latest.</summary>
    public Task RecordDeletionAsync(WebhookContext context, string userId, long eventAt, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return context.Connection.ExecuteAsync(new CommandDefinition(
            """
            insert into clerk_users (external_user_id, deleted_event_at, created_at, updated_at)
            values (@userId, @eventAt, @now, @now)
            on conflict (external_user_id) do update set
                deleted_event_at = case
                    when clerk_users.deleted_event_at is null or clerk_users.deleted_event_at < excluded.deleted_event_at
                    then excluded.deleted_event_at else clerk_users.deleted_event_at end,
                updated_at = excluded.updated_at
            """, new { userId, eventAt, now }, context.Transaction, cancellationToken: ct));
    }

    /// <summary>Clerk's envelope <c>timestamp</c> (ms); when absent, the time the inbox received the event.</summary>
    public static long EventTime(WebhookEvent webhookEvent)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(webhookEvent.Payload);
            if (document.RootElement.TryGetProperty("timestamp", out var ts) && ts.TryGetInt64(out var ms)) return ms;
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return webhookEvent.ReceivedAt.ToUnixTimeMilliseconds();
    }
}
