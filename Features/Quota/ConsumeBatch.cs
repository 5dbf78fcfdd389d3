using System.Text.RegularExpressions;
using Backstop.Features.Billing;
using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ConsumeBatchItem
{
    public string? Metric { get; init; }
    /// <summary>How much to count; default 1.</summary>
    public long Amount { get; init; } = 1;
    /// <summary>Sent again with a retry of the item: its first answer is given again and nothing more is counted.</summary>
    public string? IdempotencyKey { get; init; }
}

internal sealed record ConsumeBatchRequest
{
    /// <summary>1 to 100 consumptions, each decided on its own.</summary>
    public List<ConsumeBatchItem?>? Items { get; init; }

    public sealed class Validator : Validator<ConsumeBatchRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Items).NotEmpty().WithMessage("items must hold 1 to 100 consumptions.");
            RuleFor(r => r.Items).Must(i => i!.Count <= UsageMeter.MaxBatchItems).When(r => r.Items is not null).WithErrorCode("batch_too_large")
                .WithMessage("items must hold at most 100 consumptions.");
        }
    }
}

/// <summary>One item's answer: <c>status</c> 200 with <c>usage</c>, or an error <c>code</c> (as its own request would have answered).</summary>
internal sealed record ConsumeBatchResult(int Index, int Status, UsageReading? Usage, string? Code, string? Detail);

/// <param name="Admitted">Items counted.</param>
/// <param name="Refused">Items refused at the limit (403 <c>quota_exceeded</c>).</param>
/// <param name="Failed">Items refused for another reason (unknown metric, bad amount, …).</param>
internal sealed record ConsumeBatchResponse(IReadOnlyList<ConsumeBatchResult> Items, int Admitted, int Refused, int Failed);

/// <summary>
/// <c>POST /v1/usage/batch</c>: up to 100 consumptions, each decided independently against its limit (its own
/// answer, in the request's order) and all in one group commit, so the batch costs one transaction; a bad item is
/// answered with its error and never fails its neighbours. Unlike Stripe's and Lago's batch intakes, which accept and
/// meter later, every item is decided synchronously.
/// </summary>
internal sealed class ConsumeBatch(UsageMeter meter) : Endpoint<ConsumeBatchRequest, ConsumeBatchResponse>
{
    public override void Configure()
    {
        Post("/v1/usage/batch");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Consume usage of up to 100 items, each decided on its own, in one transaction.");
        Description(d => d.Answers<ConsumeBatchResponse>().Problems(400));
    }

    public override async Task HandleAsync(ConsumeBatchRequest req, CancellationToken ct) =>
        await Send.OkAsync(await meter.ConsumeBatchAsync(User.OrganizationId(), req.Items!, AuditLog.ActorOf(User, null), HttpContext.TraceIdentifier, ct), ct);
}

internal sealed partial class UsageMeter
{
    public const int MaxBatchItems = 100;

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex MetricName();

    public async Task<ConsumeBatchResponse> ConsumeBatchAsync(string organizationId, IReadOnlyList<ConsumeBatchItem?> items, string? actor, string? requestId,
        CancellationToken ct)
    {
        var results = new ConsumeBatchResult?[items.Count];
        var requests = new List<(int Index, UsageRequest Request)>();
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            try
            {
                if (item is null) throw new ProblemException(400, "invalid_item", "An item must be an object {metric, amount, idempotencyKey}.");
                if (item.Metric is not { } metric || !MetricName().IsMatch(metric))
                    throw new ProblemException(400, "invalid_metric_name", "metric must be 1-64 lowercase letters, digits or underscores, starting with a letter.");
                if (item.Amount is < 1 or > 1_000_000_000_000) throw new ProblemException(400, "invalid_amount", "amount must be between 1 and 10^12.");
                if (item.IdempotencyKey is { } k && (k.Length is 0 or > 255 || k.Any(char.IsControl)))
                    throw new ProblemException(400, "invalid_idempotency_key", "idempotencyKey must be 1-255 characters without control characters.");
                var key = item.IdempotencyKey is null ? null : ApiKeyPrefix + item.IdempotencyKey;
                requests.Add((i, new UsageRequest(organizationId, metric, MeterOperations.Consume, item.Amount, key) { Actor = actor, RequestId = requestId }));
            }
            catch (ProblemException problem)
            {
                results[i] = Error(i, problem);
            }
        }

        // Decided together in one transaction, which reads each metric's limit and the gate once, whatever the number of its items.
        var decisions = await groupCommit.SubmitAsync([.. requests.Select(r => r.Request)]);
        for (var j = 0; j < requests.Count; j++)
        {
            var i = requests[j].Index;
            results[i] = decisions[j] switch
            {
                { Outcome: { Status: 200 } ok } => new ConsumeBatchResult(i, 200, ok.Reading, null, null),
                { Outcome: { } refused } => Error(i, Refused(refused.Reading)) with { Usage = refused.Reading },
                var d => Error(i, d.Problem!),
            };
        }
        var all = results.Select(r => r!).ToList();
        return new ConsumeBatchResponse(all, all.Count(r => r.Status == 200), all.Count(r => r.Code == "quota_exceeded"),
            all.Count(r => r.Status != 200 && r.Code != "quota_exceeded"));
    }

    private static ConsumeBatchResult Error(int index, ProblemException problem) => new(index, problem.Status, null, problem.Code, problem.Message);
}
