using Backstop.Infrastructure.Inbox;
using Microsoft.AspNetCore.Mvc;

namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>
/// The console's bulk replay of webhook events (<c>/console/inbox/replays</c>): the same <see cref="IWebhookReplays"/>
/// as <c>POST /v1/admin/webhooks/replays</c>, with the filter read from a form (times typed as UTC).
/// </summary>
internal static class ConsoleReplays
{
    public static readonly string[] Providers = Enum.GetValues<WebhookRoute>().Select(WebhookProviders.ProviderOf).Distinct().ToArray();

    public static string? Local(DateTimeOffset? at) => Format.Local(at);

    /// <summary>The filter of a form or query, or the sentence saying what is wrong with it (the rules of the API's request).</summary>
    public static (WebhookReplayFilter? Filter, string? Error) Parse(string? provider, string? status, string? type, string? from, string? to, string? q)
    {
        provider = provider?.Trim().ToLowerInvariant() is { Length: > 0 } p ? p : null;
        status = status?.Trim().ToLowerInvariant() is { Length: > 0 } s ? s : null;
        type = string.IsNullOrWhiteSpace(type) ? null : type.Trim();
        q = string.IsNullOrWhiteSpace(q) ? null : q.Trim();
        if (provider is not null && !Providers.Contains(provider)) return (null, "Unknown provider.");
        if (status is not null && !WebhookReplayFilter.ReplayableStatuses.Contains(status))
            return (null, "Only processed, ignored or dead events are replayed (received and failed ones are retried by the inbox job).");
        if (type is { Length: > 200 } || q is { Length: > 200 }) return (null, "The event type and the text are at most 200 characters.");
        if (!Format.TryUtc(from, out var fromAt) || !Format.TryUtc(to, out var toAt)) return (null, "A time is not a date and time (UTC).");
        if (fromAt is not null && toAt is not null && toAt <= fromAt) return (null, "“Received before” must be after “received from”.");
        return (new WebhookReplayFilter(provider, status, type, fromAt, toAt, q), null);
    }

    /// <summary>Starts a replay of the form's filter (audited by the replays store) and shows its progress.</summary>
    public static async Task<IResult> StartAsync([FromForm(Name = "provider")] string? provider, [FromForm(Name = "status")] string? status,
        [FromForm(Name = "type")] string? type, [FromForm(Name = "from")] string? from, [FromForm(Name = "to")] string? to, [FromForm(Name = "q")] string? q,
        IWebhookReplays replays, CancellationToken ct)
    {
        var (filter, error) = Parse(provider, status, type, from, to, q);
        if (filter is null) return Results.Text(error!, "text/plain", statusCode: 400);
        var replay = await replays.StartAsync(filter, ct);
        return Results.Redirect($"/console/inbox/replays/{Uri.EscapeDataString(replay.Id)}?notice=started", permanent: false, preserveMethod: false);
    }

    /// <summary>Cancels a running replay (audited by the store); a finished one is left as it is.</summary>
    public static async Task<IResult> CancelAsync(string id, IWebhookReplays replays, CancellationToken ct)
    {
        string notice;
        try
        {
            await replays.CancelAsync(id, ct);
            notice = "cancelled";
        }
        catch (ProblemException e) when (e.Status == 404)
        {
            return Results.NotFound();
        }
        catch (ProblemException e) when (e.Status == 409)
        {
            notice = "finished";
        }
        return Results.Redirect($"/console/inbox/replays/{Uri.EscapeDataString(id)}?notice={notice}", permanent: false, preserveMethod: false);
    }
}
