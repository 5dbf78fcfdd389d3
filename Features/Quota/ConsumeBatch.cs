using System.Text.Json;
using System.Text.RegularExpressions;
using Backstop.Features.Billing;
using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Audit;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using FastEndpoints;
using FluentValidation;

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
        var changes = new List<(int Index, UsageChange Change)>();
        var plan = await plans.GetAsync(organizationId, ct);
        // One lookup and one gate decision per metric, whatever the number of its items.
        var scopes = new Dictionary<string, Task<UsageScope>>(StringComparer.Ordinal);
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
                if (key is not null && await StoredAnswerAsync(organizationId, metric, key, ct) is { } stored)
                {
                    results[i] = stored.Operation == MeterOperations.Consume && stored.Amount == item.Amount
                        ? new ConsumeBatchResult(i, 200, JsonSerializer.Deserialize<UsageReading>(stored.Response, Json), null, null)
                        : Error(i, new ProblemException(409, "idempotency_key_reused",
                            $"This idempotencyKey was first used to {stored.Operation} {stored.Amount} of {metric}; a key answers one request only."));
                    continue;
                }
                if (!scopes.TryGetValue(metric, out var resolving)) scopes[metric] = resolving = ResolveGatedAsync(organizationId, metric, plan, ct);
                changes.Add((i, new UsageChange(await resolving, MeterOperations.Consume, item.Amount, key) { Actor = actor, RequestId = requestId }));
            }
            catch (ProblemException problem)
            {
                results[i] = Error(i, problem);
            }
        }

        var decisions = await groupCommit.SubmitManyAsync([.. changes.Select(c => c.Change)]);
        for (var j = 0; j < changes.Count; j++)
        {
            var i = changes[j].Index;
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

    private async Task<UsageScope> ResolveGatedAsync(string organizationId, string metric, OrganizationPlan plan, CancellationToken ct)
    {
        var scope = await ResolveAsync(organizationId, metric, lenient: false, ct, apiWrite: true, plan);
        await gate.EnsureAllowedAsync(organizationId, scope.Metric.Creation ? GatedAction.Create : GatedAction.Use, metric, ct);
        return scope;
    }

    private static ConsumeBatchResult Error(int index, ProblemException problem) => new(index, problem.Status, null, problem.Code, problem.Message);
}
