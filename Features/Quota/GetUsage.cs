using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record GetUsageRequest
{
    public string Metric { get; init; } = "";
}

/// <summary><c>GET /v1/usage/{metric}</c>: the caller's usage of one metric in the current period.</summary>
internal sealed class GetUsage(UsageMeter meter) : Endpoint<GetUsageRequest, UsageReading>
{
    public override void Configure()
    {
        Get("/v1/usage/{metric}");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "Get the organization's usage of one metric: used, limit, remaining and the current period.");
        Description(d => d.Answers<UsageReading>().Problems(404));
    }

    public override async Task HandleAsync(GetUsageRequest req, CancellationToken ct) =>
        await Send.OkAsync(await meter.CurrentAsync(User.OrganizationId(), req.Metric, ct), ct);
}
