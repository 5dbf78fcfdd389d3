using Backstop.Infrastructure.Inbox;
using FastEndpoints;

namespace Backstop.Features.Webhooks;

internal sealed record ReplayWebhooksRequest
{
    /// <summary>stripe, clerk, recall, deepgram, paddle or twilio (case-insensitive).</summary>
    public string? Provider { get; init; }

    /// <summary>processed, ignored or dead; default all three (received and failed events are the inbox job's to retry).</summary>
    public string? Status { get; init; }

    /// <summary>The event type, exactly.</summary>
    public string? Type { get; init; }

    /// <summary>Received at or after this time.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Received before this time.</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Text searched (case-insensitive) in the provider's event id and in the payload.</summary>
    public string? Q { get; init; }

    /// <summary>Only count the matches; start nothing.</summary>
    public bool DryRun { get; init; }

    internal WebhookReplayFilter Filter => new(
        Provider?.Trim().ToLowerInvariant() is { Length: > 0 } p ? p : null,
        Status?.Trim().ToLowerInvariant() is { Length: > 0 } s ? s : null,
        string.IsNullOrWhiteSpace(Type) ? null : Type.Trim(),
        From, To,
        string.IsNullOrWhiteSpace(Q) ? null : Q.Trim());

    public sealed class Validator : Validator<ReplayWebhooksRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Filter.Provider).Must(p => p is null || ListWebhooksRequest.Providers.Contains(p)).OverridePropertyName("provider")
                .WithMessage("provider must be one of " + string.Join(", ", ListWebhooksRequest.Providers) + ".");
            RuleFor(r => r.Filter.Status).Must(s => s is null || WebhookReplayFilter.ReplayableStatuses.Contains(s)).OverridePropertyName("status")
                .WithMessage("status must be one of " + string.Join(", ", WebhookReplayFilter.ReplayableStatuses) + " (received and failed events are retried by the inbox job).");
            RuleFor(r => r.Type).MaximumLength(200);
            RuleFor(r => r.Q).MaximumLength(200);
            RuleFor(r => r.To).Must((r, to) => to is null || r.From is null || to > r.From).WithMessage("to must be after from.");
        }
    }
}

/// <summary>The answer of a bulk replay request: the count of matches, and the replay started (none for a dry run).</summary>
internal sealed record ReplayWebhooksResponse(int Total, bool DryRun, WebhookReplay? Replay);

/// <summary>
/// <c>POST /v1/admin/webhooks/replays</c>: replays every stored event the filter matches (processed, ignored or
/// dead), in the background, in batches; <c>dryRun: true</c> only counts them. Progress: <c>GET …/replays/{id}</c>.
/// </summary>
internal sealed class ReplayWebhooks(IWebhookReplays replays) : Endpoint<ReplayWebhooksRequest, ReplayWebhooksResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/webhooks/replays");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Replay every stored webhook event a filter matches, in the background (dryRun: count only).");
        Description(d => d.Answers<ReplayWebhooksResponse>(202));
    }

    public override async Task HandleAsync(ReplayWebhooksRequest req, CancellationToken ct)
    {
        if (req.DryRun)
        {
            await Send.ResponseAsync(new ReplayWebhooksResponse(await replays.CountAsync(req.Filter, ct), true, null), 202, ct);
            return;
        }
        var replay = await replays.StartAsync(req.Filter, ct);
        await Send.ResponseAsync(new ReplayWebhooksResponse(replay.Total, false, replay), 202, ct);
    }
}
