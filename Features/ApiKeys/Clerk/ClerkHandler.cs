using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.ApiKeys.Clerk;

/// <summary>
/// Base of the Clerk handlers. Provisioning goes through the ApiKeys slice's directory, inside the inbox's
/// transaction, so the organization, the member and the event's "processed" mark commit together or not at all.
/// </summary>
internal abstract class ClerkHandler(IOrganizationDirectory directory, ClerkOrdering ordering, ILogger log) : IWebhookHandler
{
    public string Provider => "clerk";

    public abstract bool Handles(string eventType);

    public abstract Task HandleAsync(WebhookContext context, CancellationToken ct);

    protected IOrganizationDirectory Directory => directory;

    protected ClerkOrdering Ordering => ordering;

    /// <summary>Provisions unless the user's deletion is newer than this event (Clerk does not promise order); null then.</summary>
    protected async Task<ProvisionResult?> ProvisionUnlessDeletedAsync(WebhookContext context, ProvisionRequest request, CancellationToken ct)
    {
        if (!await ordering.AdmitCreationAsync(context, request.ExternalUserId, ClerkOrdering.EventTime(context.Event), ct))
        {
            log.LogInformation("Clerk {EventType} for {ExternalUserId} is older than the user's deletion: not provisioned",
                context.Event.EventType, request.ExternalUserId);
            return null;
        }
        return await directory.ProvisionAsync(context.Connection, context.Transaction, request, ct);
    }
}
