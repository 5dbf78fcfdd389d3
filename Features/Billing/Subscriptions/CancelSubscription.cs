using FastEndpoints;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary><c>DELETE /v1/billing/subscription</c>: cancels at the end of the paid period (never at once); Stripe is told through the outbox.</summary>
internal sealed class CancelSubscription(SubscriptionChanges changes) : EndpointWithoutRequest<SubscriptionResponse>
{
    public override void Configure()
    {
        Delete("/v1/billing/subscription");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Cancel the subscription at the end of its current period (scope admin); Stripe is called asynchronously.");
        Description(d => d.Answers<SubscriptionResponse>(202).Problems(404, 409));
    }

    public override async Task HandleAsync(CancellationToken ct) =>
        await Send.ResponseAsync(SubscriptionResponse.From(await changes.CancelAtPeriodEndAsync(User.OrganizationId(), ct)), 202, ct);
}
