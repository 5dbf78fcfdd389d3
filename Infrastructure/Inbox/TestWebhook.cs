using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Observability;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// <c>backstop send-test-webhook stripe [url] [--urls …]</c>: signs a test event with the configured
/// <c>Stripe:WebhookSecret</c> exactly as Stripe signs (<c>Stripe-Signature: t={unix},v1={hex HMAC-SHA256 of
/// "{t}.{body}"}</c>) and posts it to a running instance's <c>/webhooks/stripe</c>, so the first minutes with the
/// service need no Stripe account or CLI. The event's type (<c>backstop.test</c>) has no handler: it is stored
/// <c>ignored</c>, listed by <c>GET /v1/admin/webhooks</c> and can be replayed. Exit 0 when the instance stored it
/// (200), 1 when it refused it or did not answer, 2 for a usage error.
/// </summary>
internal static class TestWebhook
{
    public const string EventType = "backstop.test";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] != "stripe")
        {
            await Console.Error.WriteLineAsync("send-test-webhook takes a provider: stripe (the only one it signs for now).");
            return CommandLine.Usage;
        }
        string? explicitUrl = null;
        var options = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i].StartsWith('-'))
            {
                options.Add(args[i]);
                if (!args[i].Contains('=') && i + 1 < args.Length && !args[i + 1].StartsWith('-')) options.Add(args[++i]);
            }
            else if (explicitUrl is null) explicitUrl = args[i];
            else
            {
                await Console.Error.WriteLineAsync($"send-test-webhook takes one url; '{args[i]}' is a second one.");
                return CommandLine.Usage;
            }
        }

        IConfiguration configuration;
        string baseUrl;
        try
        {
            configuration = BackstopConfiguration.ForCommand([.. options]);
            baseUrl = explicitUrl ?? BaseOf(HealthProbe.FromConfiguration(configuration) ?? HealthProbe.DefaultUrl);
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync($"send-test-webhook: {e.Message}");
            return CommandLine.Usage;
        }
        if (!Uri.TryCreate(baseUrl.TrimEnd('/') + "/webhooks/stripe", UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https"))
        {
            await Console.Error.WriteLineAsync($"send-test-webhook: '{baseUrl}' is not an http(s) url.");
            return CommandLine.Usage;
        }
        var secret = configuration["Stripe:WebhookSecret"];
        if (string.IsNullOrWhiteSpace(secret))
        {
            await Console.Error.WriteLineAsync("send-test-webhook: Stripe:WebhookSecret is not set (set it as the running service has it, e.g. Stripe__WebhookSecret=whsec_…).");
            return 1;
        }

        var now = DateTimeOffset.UtcNow;
        var eventId = "evt_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var (body, signature) = Sign(secret.Trim(), eventId, now);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        try
        {
            using var response = await http.SendAsync(request);
            var answer = await response.Content.ReadAsStringAsync();
            await Console.Out.WriteLineAsync($"{eventId} ({EventType}) posted to {target}: {(int)response.StatusCode} {answer}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await Console.Out.WriteLineAsync($"{target} did not answer: {e.Message}");
            return 1;
        }
    }

    /// <summary>A Stripe event of <see cref="EventType"/> and its <c>Stripe-Signature</c> header under <paramref name="secret"/>.</summary>
    internal static (string Body, string Signature) Sign(string secret, string eventId, DateTimeOffset now)
    {
        var created = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var body = $$"""{"id":"{{eventId}}","object":"event","type":"{{EventType}}","api_version":"2024-06-20","created":{{created}},"livemode":false,"data":{"object":{"object":"test","message":"Sent by backstop send-test-webhook"} } }""";
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(created + "." + body));
        return (body, $"t={created},v1={Convert.ToHexStringLower(mac)}");
    }

    /// <summary>The service's base address from its readiness url (what <see cref="HealthProbe"/> computes).</summary>
    private static string BaseOf(string readinessUrl) =>
        readinessUrl.EndsWith("/health/ready", StringComparison.Ordinal) ? readinessUrl[..^"/health/ready".Length] : readinessUrl;
}
