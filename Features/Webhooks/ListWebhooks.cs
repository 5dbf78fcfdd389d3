using Backstop.Infrastructure.Inbox;
using FastEndpoints;

namespace Backstop.Features.Webhooks;

internal sealed record ListWebhooksRequest : PageRequest
{
    /// <summary>stripe, clerk, recall, deepgram, paddle or twilio (case-insensitive).</summary>
    [QueryParam] public string? Provider { get; init; }
    [QueryParam] public string? Status { get; init; }

    internal static readonly string[] Providers = Enum.GetValues<WebhookRoute>().Select(WebhookProviders.ProviderOf).Distinct().ToArray();

    internal string? NormalizedProvider => Provider?.Trim().ToLowerInvariant();
    internal string? NormalizedStatus => Status?.Trim().ToLowerInvariant();
    [QueryParam] public string? Type { get; init; }
}

/// <summary>An event without its payload, as lists show it.</summary>
internal sealed record WebhookSummary
{
    public string Id { get; init; } = "";
    public string Provider { get; init; } = "";
    public string EventId { get; init; } = "";
    public string EventType { get; init; } = "";
    public string Status { get; init; } = "";
    public int Attempts { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset ReceivedAt { get; init; }
    public DateTimeOffset? ProcessedAt { get; init; }
    public int ReplayCount { get; init; }
    public DateTimeOffset? LastReplayedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}


/// <summary><c>GET /v1/admin/webhooks</c>: stored events, newest first, filtered by provider, status and type.</summary>
internal sealed class ListWebhooks(WebhookInbox inbox) : Endpoint<ListWebhooksRequest, Page<WebhookSummary>>
{
    public override void Configure()
    {
        Get("/v1/admin/webhooks");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List stored webhook events (newest first, paginated; without payloads).");
    }

    public sealed class Validator : Validator<ListWebhooksRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.NormalizedStatus).Must(s => s is null || WebhookStatus.All.Contains(s)).OverridePropertyName("status")
                .WithMessage("status must be one of " + string.Join(", ", WebhookStatus.All) + ".");
            RuleFor(r => r.NormalizedProvider).Must(p => p is null || ListWebhooksRequest.Providers.Contains(p)).OverridePropertyName("provider")
                .WithMessage("provider must be one of " + string.Join(", ", ListWebhooksRequest.Providers) + ".");
            RuleFor(r => r.Type).MaximumLength(200);
        }
    }

    public override async Task HandleAsync(ListWebhooksRequest req, CancellationToken ct) =>
        await Send.OkAsync(await QueryAsync(inbox, req, ct), ct);

    /// <summary>The list's query (also the operator console's inbox page); <paramref name="req"/> as the validator accepts it.</summary>
    internal static Task<Page<WebhookSummary>> QueryAsync(WebhookInbox inbox, ListWebhooksRequest req, CancellationToken ct) =>
        inbox.ListAsync<WebhookSummary>(req.NormalizedProvider, req.NormalizedStatus, req.Type, req, r => r.Id, ct);
}
