using Backstop.Features.ApiKeys;

namespace Backstop.Features.Webhooks.Clerk;

/// <summary>
/// Base of the Clerk handlers. The directory belongs to the ApiKeys slice and is resolved when an event is handled,
/// not when handlers are built: the inbox builds every handler for every event, and a missing directory must fail
/// (and retry) Clerk events only, never Stripe's or Twilio's.
/// </summary>
public abstract class ClerkHandler(IServiceProvider services) : IWebhookHandler
{
    public string Provider => "clerk";

    public abstract bool Handles(string eventType);

    public abstract Task HandleAsync(WebhookContext context, CancellationToken ct);

    protected IOrganizationDirectory Directory =>
        services.GetService<IOrganizationDirectory>()
        ?? throw new InvalidOperationException("No IOrganizationDirectory is registered (the ApiKeys slice provides it).");
}

/// <summary><c>user.created</c>: the user's personal organization, with the user as owner, in the inbox's transaction.</summary>
public sealed class ClerkUserCreatedHandler(IServiceProvider services, ILogger<ClerkUserCreatedHandler> log) : ClerkHandler(services)
{
    public override bool Handles(string eventType) => eventType == "user.created";

    public override async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var request = ClerkPayloads.PersonalOrganization(context.Event.Payload);
        var result = await Directory.ProvisionAsync(context.Connection, context.Transaction, request, ct);
        log.LogInformation("Clerk user {ExternalUserId} provisioned: organization {OrganizationId} (created {OrganizationCreated}), member {MemberId} (created {MemberCreated})",
            request.ExternalUserId, result.OrganizationId, result.OrganizationCreated, result.MemberId, result.MemberCreated);
    }
}

/// <summary><c>organizationMembership.created</c>: the organization and the member with the mapped role.</summary>
public sealed class ClerkMembershipCreatedHandler(IServiceProvider services, ILogger<ClerkMembershipCreatedHandler> log) : ClerkHandler(services)
{
    public override bool Handles(string eventType) => eventType == "organizationMembership.created";

    public override async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var request = ClerkPayloads.Membership(context.Event.Payload);
        var result = await Directory.ProvisionAsync(context.Connection, context.Transaction, request, ct);
        log.LogInformation("Clerk membership of {ExternalUserId} in {ExternalOrganizationId} provisioned as {Role}: organization {OrganizationId}, member {MemberId}",
            request.ExternalUserId, request.ExternalOrganizationId, request.Role, result.OrganizationId, result.MemberId);
    }
}

/// <summary><c>user.deleted</c>: the user's memberships are removed everywhere.</summary>
public sealed class ClerkUserDeletedHandler(IServiceProvider services, ILogger<ClerkUserDeletedHandler> log) : ClerkHandler(services)
{
    public override bool Handles(string eventType) => eventType == "user.deleted";

    public override async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var userId = ClerkPayloads.DeletedUserId(context.Event.Payload);
        var removed = await Directory.RemoveExternalUserAsync(context.Connection, context.Transaction, userId, ct);
        log.LogInformation("Clerk user {ExternalUserId} deleted: {Removed} memberships removed", userId, removed);
    }
}
