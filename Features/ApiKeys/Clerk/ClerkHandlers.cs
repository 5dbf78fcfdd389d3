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

/// <summary><c>user.created</c>: the user's personal organization, with the user as owner, in the inbox's transaction.</summary>
internal sealed class ClerkUserCreatedHandler(IOrganizationDirectory directory, ClerkOrdering ordering, ILogger<ClerkUserCreatedHandler> log)
    : ClerkHandler(directory, ordering, log)
{
    public override bool Handles(string eventType) => eventType == "user.created";

    public override async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var request = ClerkPayloads.PersonalOrganization(context.Event.Payload);
        if (await ProvisionUnlessDeletedAsync(context, request, ct) is { } result)
            log.LogInformation("Clerk user {ExternalUserId} provisioned: organization {OrganizationId} (created {OrganizationCreated}), member {MemberId} (created {MemberCreated})",
                request.ExternalUserId, result.OrganizationId, result.OrganizationCreated, result.MemberId, result.MemberCreated);
    }
}

/// <summary><c>organizationMembership.created</c>: the organization and the member with the mapped role.</summary>
internal sealed class ClerkMembershipCreatedHandler(IOrganizationDirectory directory, ClerkOrdering ordering, ILogger<ClerkMembershipCreatedHandler> log)
    : ClerkHandler(directory, ordering, log)
{
    public override bool Handles(string eventType) => eventType == "organizationMembership.created";

    public override async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var request = ClerkPayloads.Membership(context.Event.Payload);
        if (await ProvisionUnlessDeletedAsync(context, request, ct) is { } result)
            log.LogInformation("Clerk membership of {ExternalUserId} in {ExternalOrganizationId} provisioned as {Role}: organization {OrganizationId}, member {MemberId}",
                request.ExternalUserId, request.ExternalOrganizationId, request.Role, result.OrganizationId, result.MemberId);
    }
}

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
