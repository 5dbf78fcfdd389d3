using FastEndpoints;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary><c>GET /v1/billing/subscription</c>: the caller's organization's subscription, as the provider's events left it.</summary>
internal sealed class GetSubscription(Db db) : EndpointWithoutRequest<SubscriptionResponse>
{
    public override void Configure()
    {
        Get("/v1/billing/subscription");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "The organization's subscription: status, plan, period, cancellation, trial, dunning state and pending plan change.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = await BillingSql.FindSubscriptionAsync(connection, null, User.OrganizationId(), ct) ?? throw SubscriptionChanges.None();
        await Send.OkAsync(SubscriptionResponse.From(row), ct);
    }
}
