using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ListUsageResponse(IReadOnlyList<UsageReading> Items);

/// <summary><c>GET /v1/usage</c>: every metric the caller's organization has a limit for.</summary>
internal sealed class ListUsage(UsageMeter meter) : EndpointWithoutRequest<ListUsageResponse>
{
    public override void Configure()
    {
        Get("/v1/usage");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "List the organization's usage of every metric it has a limit for.");
        Description(d => d.Answers<ListUsageResponse>());
    }

    public override async Task HandleAsync(CancellationToken ct) =>
        await Send.OkAsync(new ListUsageResponse(await meter.ListAsync(User.OrganizationId(), ct)), ct);
}
