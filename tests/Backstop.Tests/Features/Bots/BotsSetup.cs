using Backstop.Infrastructure.Outbox;

namespace Backstop.Tests.Features.Bots;

/// <summary>An app wired to a local Recall and Deepgram, with files in a temporary folder; the outbox is driven by the tests.</summary>
public class BotsSetup : AppSetup
{
    public const string RecallWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    public RecallFake Recall { get; } = new();
    public DeepgramFake Deepgram { get; } = new();
    public string FilesPath { get; } = Path.Combine(Path.GetTempPath(), "backstop-files-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>
    /// One request down each path of the fakes first: WireMock's first answers (matchers, callbacks, JIT) can take
    /// seconds on a busy machine, longer than the client timeouts the tests set.
    /// </summary>
    public override async ValueTask StartAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await http.PostAsync(Recall.Url + "/api/v1/bot/", new StringContent("{\"meeting_url\":\"warm-up\"}"));
        await http.GetAsync(Recall.Url + "/api/v1/bot/bot_warmup/");
        await http.GetAsync(Recall.Url + "/media/bot_warmup.mp3");
        await http.PostAsync(Recall.Url + "/api/v1/bot/bot_warmup/leave_call/", null);
        await http.PostAsync(Recall.Url + "/api/v1/bot/bot_completed_warmup/leave_call/", null);
        await http.PostAsync(Deepgram.Url + "/v1/listen", new StringContent("{}"));
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Recall:ApiKey"] = RecallFake.ApiKey;
        settings["Recall:BaseUrl"] = Recall.Url;
        settings["Recall:TimeoutSeconds"] = "5";
        settings["Recall:WebhookSecret"] = RecallWebhookSecret;
        settings["Deepgram:ApiKey"] = DeepgramFake.ApiKey;
        settings["Deepgram:BaseUrl"] = Deepgram.Url;
        settings["PublicBaseUrl"] = "https://backstop.example.com";
        settings["Storage:LocalPath"] = FilesPath;
        // The fake's media host (plain HTTP is allowed on loopback only), and a cap between its normal and its large recording.
        settings["Recall:MediaHosts"] = Recall.Host;
        settings["Recall:MaxRecordingBytes"] = "100000";
    }

    public override ValueTask DisposeAsync()
    {
        Recall.Dispose();
        Deepgram.Dispose();
        if (Directory.Exists(FilesPath)) Directory.Delete(FilesPath, recursive: true);
        return base.DisposeAsync();
    }
}

internal static class BotsKit
{
    public static RecallFake Recall(this BackstopFactory app) => app.SetupAs<BotsSetup>().Recall;

    public static DeepgramFake Deepgram(this BackstopFactory app) => app.SetupAs<BotsSetup>().Deepgram;

    public static async Task<HttpClient> TenantClientAsync(this BackstopFactory app, params string[] scopes) =>
        app.Client(await app.CreateTenantAsync(scopes));

    public static string NewZoomUrl(string marker = "") => $"https://us02web.zoom.us/j/{Random.Shared.NextInt64(10_000_000_000, 99_999_999_999)}?pwd={marker}{Guid.NewGuid():N}";

    public static async Task<JsonElement> CreateMeetingAsync(this HttpClient client, string? url = null, bool startBot = false, string? externalUserId = null)
    {
        var response = await client.PostJsonAsync("/v1/meetings", new { title = "Weekly sync", meetingUrl = url ?? NewZoomUrl(), startBot, externalUserId });
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 201) throw new InvalidOperationException($"Creating a meeting answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static Task<int> DispatchAsync(this BackstopFactory app) => app.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
}

/// <summary>Recall status webhooks as Recall sends them: Standard Webhooks headers, HMAC-SHA256 over id.ts.body with the workspace secret.</summary>
internal static class RecallWebhooks
{
    public static string StatusBody(string botId, string code, DateTimeOffset updatedAt, string? subCode = null, object? metadata = null) =>
        JsonSerializer.Serialize(new
        {
            @event = "bot." + code,
            data = new
            {
                data = new { code, sub_code = subCode, updated_at = updatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture) },
                bot = new { id = botId, metadata = metadata ?? new { } },
            },
        });

    public static HttpRequestMessage Signed(string messageId, string body, DateTimeOffset now)
    {
        var ts = now.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var key = Convert.FromBase64String(BotsSetup.RecallWebhookSecret["whsec_".Length..]);
        var signature = "v1," + Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(key, System.Text.Encoding.UTF8.GetBytes($"{messageId}.{ts}.{body}")));
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/recall") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("webhook-id", messageId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", ts);
        request.Headers.TryAddWithoutValidation("webhook-signature", signature);
        return request;
    }

    public static async Task DeliverAsync(this BackstopFactory app, string messageId, string body)
    {
        var response = await app.CreateClient().SendAsync(Signed(messageId, body, app.Time.GetUtcNow()));
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"The inbox answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}
