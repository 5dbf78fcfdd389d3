using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.ApiKeys.Clerk;

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
