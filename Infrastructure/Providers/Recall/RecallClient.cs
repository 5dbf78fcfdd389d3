using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Backstop.Infrastructure.Providers.Recall;

internal enum RecallFailureKind
{
    /// <summary>Recall answered and refused (4xx other than 429): retrying the same request will not help.</summary>
    Refused,

    /// <summary>429 or 507 (no bot capacity right now): retry after <see cref="RecallFailure.RetryAfter"/>.</summary>
    Unavailable,

    /// <summary>5xx, a timeout or no connection: Recall may or may not have acted.</summary>
    Unreachable,
}

internal sealed record RecallFailure(RecallFailureKind Kind, int? Status, string Message, TimeSpan? RetryAfter, string? Code)
{
    public bool Transient => Kind != RecallFailureKind.Refused;
}

internal sealed record RecallResult<T>(T? Value, RecallFailure? Failure)
{
    public bool Ok => Failure is null;
}

/// <param name="Metadata">Echoed back in every webhook for this bot (<c>data.bot.metadata</c>).</param>
internal sealed record CreateBotRequest(string MeetingUrl, string BotName, DateTimeOffset? JoinAt, IReadOnlyDictionary<string, string> Metadata);

internal sealed record RecallBot(string Id, string? Status, string? AudioDownloadUrl);

/// <summary>
/// Recall.ai's REST API over a typed <see cref="HttpClient"/> (<c>Authorization: Token …</c>, base address from
/// <see cref="RecallOptions"/>). Never throws for what Recall answers or for the network: every call returns a
/// <see cref="RecallResult{T}"/> the caller maps to its own error or retry.
/// </summary>
internal sealed class RecallClient(HttpClient http, IOptions<RecallOptions> options, ILogger<RecallClient> log)
{
    public const string CannotCommandCompletedBot = "cannot_command_completed_bot";
    public const string CannotCommandUnstartedBot = "cannot_command_unstarted_bot";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>
    /// <c>POST /api/v1/bot/</c> with an <c>Idempotency-Key</c>: Recall answers a repeat of the same key within an
    /// hour with the first answer, so a retried start never makes a second bot.
    /// </summary>
    public async Task<RecallResult<RecallBot>> CreateBotAsync(CreateBotRequest request, string idempotencyKey, CancellationToken ct)
    {
        var body = new Dictionary<string, object?>
        {
            ["meeting_url"] = request.MeetingUrl,
            ["bot_name"] = request.BotName,
            ["metadata"] = request.Metadata,
            // An audio file of the whole meeting is what gets transcribed.
            ["recording_config"] = new Dictionary<string, object> { ["audio_mixed_mp3"] = new Dictionary<string, object>() },
        };
        if (request.JoinAt is { } joinAt) body["join_at"] = joinAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        using var message = new HttpRequestMessage(HttpMethod.Post, "api/v1/bot/") { Content = JsonContent.Create(body, options: Json) };
        message.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return await SendAsync(message, ReadBotAsync, ct);
    }

    public async Task<RecallResult<RecallBot>> GetBotAsync(string botId, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, $"api/v1/bot/{Uri.EscapeDataString(botId)}/");
        return await SendAsync(message, ReadBotAsync, ct);
    }

    /// <summary>
    /// <c>POST /api/v1/bot/{id}/leave_call/</c>. A bot that already left (400 <c>cannot_command_completed_bot</c>) is
    /// what we wanted: success. A bot that has not joined yet (400 <c>cannot_command_unstarted_bot</c>) is NOT gone:
    /// that failure is returned, for the caller to delete a scheduled bot or try again once it has joined.
    /// </summary>
    public async Task<RecallResult<bool>> LeaveCallAsync(string botId, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, $"api/v1/bot/{Uri.EscapeDataString(botId)}/leave_call/");
        var result = await SendAsync(message, (_, _) => Task.FromResult(true), ct);
        if (result.Failure is { Status: 400, Code: CannotCommandCompletedBot })
            return new RecallResult<bool>(true, null);
        return result;
    }

    /// <summary>
    /// <c>DELETE /api/v1/bot/{id}/</c>: the only way to cancel a scheduled bot that has not been dispatched. A bot
    /// Recall no longer knows (404) is gone: success. 405 (dispatched) is returned as a failure with status 405.
    /// </summary>
    public async Task<RecallResult<bool>> DeleteBotAsync(string botId, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Delete, $"api/v1/bot/{Uri.EscapeDataString(botId)}/");
        var result = await SendAsync(message, (_, _) => Task.FromResult(true), ct);
        if (result.Failure is { Status: 404 }) return new RecallResult<bool>(true, null);
        return result;
    }

    /// <summary><c>PATCH /api/v1/bot/{id}/</c> with a new <c>join_at</c>: moves a scheduled bot that has not been dispatched (405 once it has).</summary>
    public async Task<RecallResult<bool>> UpdateJoinAtAsync(string botId, DateTimeOffset joinAt, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/bot/{Uri.EscapeDataString(botId)}/")
        {
            Content = JsonContent.Create(new Dictionary<string, object> { ["join_at"] = joinAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) }, options: Json),
        };
        return await SendAsync(message, (_, _) => Task.FromResult(true), ct);
    }

    private async Task<RecallResult<T>> SendAsync<T>(HttpRequestMessage message, Func<HttpResponseMessage, CancellationToken, Task<T>> read, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.ApiEnabled)
            return new RecallResult<T>(default, new RecallFailure(RecallFailureKind.Refused, null, "Recall:ApiKey is not configured.", null, "not_configured"));
        message.Headers.Authorization = new AuthenticationHeaderValue("Token", o.ApiKey!.Trim());
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new RecallResult<T>(default, new RecallFailure(RecallFailureKind.Unreachable, null, $"Recall did not answer within {o.TimeoutSeconds} s.", null, "timeout"));
        }
        catch (HttpRequestException e)
        {
            return new RecallResult<T>(default, new RecallFailure(RecallFailureKind.Unreachable, null, "Recall could not be reached: " + e.Message, null, "unreachable"));
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return new RecallResult<T>(await read(response, ct), null);
                }
                catch (Exception e) when (e is JsonException or InvalidDataException or HttpRequestException)
                {
                    return new RecallResult<T>(default, new RecallFailure(RecallFailureKind.Unreachable, status, "Recall's answer could not be read: " + e.Message, null, "bad_response"));
                }
            }

            var text = await ReadErrorAsync(response, ct);
            var code = ErrorCode(text);
            var retryAfter = RetryAfter(response);
            var kind = status switch
            {
                429 or 507 => RecallFailureKind.Unavailable,
                409 or >= 500 => RecallFailureKind.Unreachable,
                _ => RecallFailureKind.Refused,
            };
            log.LogWarning("Recall answered {Status} ({Code}) to {Method} {Path}", status, code, message.Method, message.RequestUri?.OriginalString);
            return new RecallResult<T>(default, new RecallFailure(kind, status, $"Recall answered {status}: {Truncate(text)}", retryAfter, code));
        }
    }

    private static async Task<RecallBot> ReadBotAsync(HttpResponseMessage response, CancellationToken ct)
    {
        using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
        var root = document.RootElement;
        var id = root.TryGetProperty("id", out var idElement) && idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : null;
        if (string.IsNullOrEmpty(id)) throw new InvalidDataException("The bot has no id.");
        string? status = null;
        if (root.TryGetProperty("status_changes", out var changes) && changes.ValueKind == JsonValueKind.Array && changes.GetArrayLength() > 0)
            status = StringOf(changes[changes.GetArrayLength() - 1], "code");
        status ??= root.TryGetProperty("status", out var s) ? s.ValueKind == JsonValueKind.String ? s.GetString() : StringOf(s, "code") : null;
        return new RecallBot(id, status, DownloadUrl(root));
    }

    /// <summary>The newest recording's mixed audio, else its mixed video (both are pre-signed links).</summary>
    private static string? DownloadUrl(JsonElement bot)
    {
        if (!bot.TryGetProperty("recordings", out var recordings) || recordings.ValueKind != JsonValueKind.Array) return null;
        foreach (var recording in recordings.EnumerateArray().Reverse())
        {
            if (!recording.TryGetProperty("media_shortcuts", out var media) || media.ValueKind != JsonValueKind.Object) continue;
            foreach (var kind in new[] { "audio_mixed", "video_mixed" })
                if (media.TryGetProperty(kind, out var shortcut) && shortcut.ValueKind == JsonValueKind.Object &&
                    shortcut.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object &&
                    StringOf(data, "download_url") is { } url)
                    return url;
        }
        return null;
    }

    private static string? StringOf(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return await response.Content.ReadAsStringAsync(ct);
        }
        catch (HttpRequestException)
        {
            return "";
        }
    }

    /// <summary>Recall's 400s carry a machine code (<c>{"code": "cannot_command_completed_bot", …}</c>); older answers put it in <c>detail</c>.</summary>
    private static string? ErrorCode(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return null;
            var code = StringOf(document.RootElement, "code");
            if (code is not null) return code;
            var detail = StringOf(document.RootElement, "detail");
            foreach (var known in new[] { CannotCommandCompletedBot, CannotCommandUnstartedBot })
                if (detail?.Contains(known, StringComparison.Ordinal) == true) return known;
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta;
        if (header?.Date is { } date) return date - DateTimeOffset.UtcNow is var d && d > TimeSpan.Zero ? d : TimeSpan.Zero;
        return response.StatusCode is HttpStatusCode.TooManyRequests or (HttpStatusCode)507 ? TimeSpan.FromSeconds(30) : null;
    }

    private static string Truncate(string s) => s.Length > 500 ? s[..500] : s;
}
