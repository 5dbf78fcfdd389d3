using FastEndpoints;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary><c>POST /v1/billing/subscription/resume</c>: undoes a cancellation at period end while the period lasts.</summary>
internal sealed class ResumeSubscription(SubscriptionChanges changes) : EndpointWithoutRequest<SubscriptionResponse>
{
    public override void Configure()
    {
        Post("/v1/billing/subscription/resume");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Keep a subscription that is set to cancel at period end (scope admin); refused once the period ended.");
        Description(d => d.Answers<SubscriptionResponse>(202).Problems(404, 409));
    }

    public override async Task HandleAsync(CancellationToken ct) =>
        await Send.ResponseAsync(SubscriptionResponse.From(await changes.ResumeAsync(User.OrganizationId(), ct)), 202, ct);
}
