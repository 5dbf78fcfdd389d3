using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ConsumeUsageRequest : IUsageChange
{
    public string Metric { get; init; } = "";
    /// <summary>How much to count; default 1.</summary>
    public long Amount { get; init; } = 1;
    /// <summary>Sent again with a retry: the first answer is given again and nothing more is counted (at most 255 characters).</summary>
    public string? IdempotencyKey { get; init; }

    public sealed class Validator : Validator<ConsumeUsageRequest>
    {
        public Validator()
        {
            UsageChangeRules.Apply(this);
        }
    }
}

/// <summary><c>POST /v1/usage/{metric}/consume</c>: counts if it fits the limit, in one statement; 403 <c>quota_exceeded</c> otherwise.</summary>
internal sealed class ConsumeUsage(UsageMeter meter) : Endpoint<ConsumeUsageRequest, UsageReading>
{
    public override void Configure()
    {
        Post("/v1/usage/{metric}/consume");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Consume usage of a metric (refused with 403 quota_exceeded when it would pass the limit).");
        Description(d => d.Answers<UsageReading>().Problems(402, 403, 404, 409));
    }

    public override async Task HandleAsync(ConsumeUsageRequest req, CancellationToken ct) =>
        await Send.OkAsync(await meter.ApplyOwnAsync(User.OrganizationId(), req.Metric, MeterOperations.Consume, req.Amount, req.IdempotencyKey, ct), ct);
}
