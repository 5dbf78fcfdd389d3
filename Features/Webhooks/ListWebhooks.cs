using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Features.Webhooks;

public sealed record ListWebhooksRequest : PageRequest
{
    [QueryParam] public string? Provider { get; init; }
    [QueryParam] public string? Status { get; init; }
    [QueryParam] public string? Type { get; init; }
}

/// <summary>An event without its payload, as lists show it.</summary>
public sealed record WebhookSummary
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
public sealed class ListWebhooks(Db db) : Endpoint<ListWebhooksRequest, Page<WebhookSummary>>
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
            RuleFor(r => r.Status).Must(s => s is null || WebhookStatus.All.Contains(s))
                .WithMessage("status must be one of " + string.Join(", ", WebhookStatus.All) + ".");
            RuleFor(r => r.Provider).MaximumLength(50);
            RuleFor(r => r.Type).MaximumLength(200);
        }
    }

    public override async Task HandleAsync(ListWebhooksRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await Send.OkAsync(await connection.PageAsync<WebhookSummary>(
            """
            select id, provider, event_id, event_type, status, attempts, next_attempt_at, last_error, received_at,
                   processed_at, replay_count, last_replayed_at, updated_at
            from webhook_events
            """,
            "(@Provider is null or provider = @Provider) and (@Status is null or status = @Status) and (@Type is null or event_type = @Type)",
            new { req.Provider, req.Status, req.Type }, req, r => r.Id, ct), ct);
    }
}
