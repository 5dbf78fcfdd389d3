using System.Text.Json.Serialization;
using FastEndpoints;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>What to pass as Paddle.js' <c>customData</c> when opening Paddle's checkout.</summary>
internal sealed record PaddleCustomData(
    [property: JsonPropertyName("organization_id")] string OrganizationId,
    [property: JsonPropertyName("backstop_reference")] string BackstopReference);

internal sealed record PaddleCheckoutResponse(PaddleCustomData CustomData);

/// <summary>
/// <c>POST /v1/billing/paddle-checkout</c> (scope admin): a server-issued, HMAC-signed checkout reference for the
/// caller's organization. Paddle's checkout runs in the browser, so <c>custom_data</c> is whatever the browser sends:
/// a Paddle subscription is attached to an organization only when its <c>custom_data</c> carries a reference this
/// server issued for that organization (see <see cref="PaddleCheckoutReferences"/>).
/// </summary>
internal sealed class PaddleCheckout(Db db, PaddleCheckoutReferences references) : EndpointWithoutRequest<PaddleCheckoutResponse>
{
    public override void Configure()
    {
        Post("/v1/billing/paddle-checkout");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Issue the signed custom data to open a Paddle checkout for the organization (scope admin).");
        Description(d => d.Problems(409, 503));
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        if (!references.Configured)
            throw new ProblemException(503, "billing_not_configured", "Paddle checkouts are not configured on this server (Paddle:CheckoutSecret is not set).");
        var organizationId = User.OrganizationId();
        await using (var connection = await db.OpenAsync(ct))
            if (await BillingSql.FindSubscriptionAsync(connection, null, organizationId, ct) is { Live: true } live)
                throw new ProblemException(409, "subscription_exists",
                    $"The organization already has a {live.Status} subscription on the plan '{live.PlanCode}'; change its plan instead of buying a second one.");
        await Send.OkAsync(new PaddleCheckoutResponse(new PaddleCustomData(organizationId, references.Issue(organizationId))), ct);
    }
}
