using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.ApiKeys.Clerk;

/// <summary><c>user.deleted</c>: the user's memberships are removed everywhere.</summary>
internal sealed class ClerkUserDeletedHandler(IOrganizationDirectory directory, ClerkOrdering ordering, ILogger<ClerkUserDeletedHandler> log)
    : ClerkHandler(directory, ordering, log)
{
    public override bool Handles(string eventType) => eventType == "user.deleted";

    public override async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var userId = ClerkPayloads.DeletedUserId(context.Event.Payload);
        await Ordering.RecordDeletionAsync(context, userId, ClerkOrdering.EventTime(context.Event), ct);
        var removed = await Directory.RemoveExternalUserAsync(context.Connection, context.Transaction, userId, ct);
        log.LogInformation("Clerk user {ExternalUserId} deleted: {Removed} memberships removed", userId, removed);
    }
}
