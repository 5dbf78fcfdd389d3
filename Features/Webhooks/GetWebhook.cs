using Backstop.Infrastructure.Inbox;
using FastEndpoints;

namespace Backstop.Features.Webhooks;

internal sealed record WebhookIdRequest
{
    public string Id { get; init; } = "";
}

/// <summary>An event with its payload (parsed JSON; every provider's payload is stored as JSON).</summary>
internal sealed record WebhookDetails(
    string Id,
    string Provider,
    string EventId,
    string EventType,
    string Status,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    DateTimeOffset ReceivedAt,
    DateTimeOffset? ProcessedAt,
    int ReplayCount,
    DateTimeOffset? LastReplayedAt,
    DateTimeOffset UpdatedAt,
    JsonElement Payload)
{
    public static WebhookDetails Of(WebhookEventRow row)
    {
        JsonElement payload;
        try
        {
            using var document = JsonDocument.Parse(row.Payload);
            payload = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            payload = JsonSerializer.SerializeToElement(row.Payload);
        }
        return new WebhookDetails(row.Id, row.Provider, row.EventId, row.EventType, row.Status, row.Attempts, row.NextAttemptAt,
            row.LastError, row.ReceivedAt, row.ProcessedAt, row.ReplayCount, row.LastReplayedAt, row.UpdatedAt, payload);
    }
}

/// <summary><c>GET /v1/admin/webhooks/{id}</c>: one stored event with its payload.</summary>
internal sealed class GetWebhook(WebhookInbox inbox) : Endpoint<WebhookIdRequest, WebhookDetails>
{
    public override void Configure()
    {
        Get("/v1/admin/webhooks/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "A stored webhook event with its payload.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(WebhookIdRequest req, CancellationToken ct)
    {
        var row = await inbox.GetAsync(req.Id, ct) ?? throw ProblemException.NotFound($"Webhook event '{req.Id}'");
        await Send.OkAsync(WebhookDetails.Of(row), ct);
    }
}
