using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.ApiKeys.Clerk;

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
