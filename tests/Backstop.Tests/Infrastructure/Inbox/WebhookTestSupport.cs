using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Inbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>Builds signed deliveries the way each provider sends them. Signatures are computed here, independently of the app's code.</summary>
public static class Deliveries
{
    public const string StripeSecret = "whsec_test_secret";
    public const string ClerkSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    public const string RecallSecret = "whsec_cmVjYWxsLXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODk=";
    public const string DeepgramToken = "dg-callback-token-0123456789abcdef";
    public const string PaddleSecret = "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI";
    public const string TwilioToken = "twilio-auth-token-for-tests";
    public const string PublicBaseUrl = "https://backstop.example.com";

    /// <summary>Every route of the inbox, as test data names them.</summary>
    public static readonly string[] Routes = ["stripe", "clerk", "recall", "deepgram", "paddle", "twilio-sms", "twilio-status"];

    public static void Configure(Dictionary<string, string?> settings)
    {
        settings["Stripe:WebhookSecret"] = StripeSecret;
        settings["Clerk:WebhookSecret"] = ClerkSecret;
        settings["Recall:WebhookSecret"] = RecallSecret;
        settings["Deepgram:CallbackToken"] = DeepgramToken;
        settings["Paddle:WebhookSecret"] = PaddleSecret;
        settings["Twilio:AuthToken"] = TwilioToken;
        settings["Twilio:PublicBaseUrl"] = PublicBaseUrl;
        settings["Webhooks:MaxAttempts"] = "3";
    }

    public static string Provider(string route) => route.StartsWith("twilio", StringComparison.Ordinal) ? "twilio" : route;

    /// <summary>The event id the inbox stores for a delivery built with <paramref name="id"/>.</summary>
    public static string StoredEventId(string route, string id) => route == "twilio-status" ? id + ":delivered" : id;

    public static string NewId(string route) => route switch
    {
        "stripe" => "evt_" + Guid.NewGuid().ToString("N"),
        "clerk" or "recall" => "msg_" + Guid.NewGuid().ToString("N"),
        "paddle" => "evt_01" + Guid.NewGuid().ToString("N"),
        "twilio-sms" or "twilio-status" => "SM" + Guid.NewGuid().ToString("N"),
        _ => Guid.NewGuid().ToString(),
    };

    public enum Signing
    {
        Good,
        Bad,
        Stale,
    }

    /// <summary>A delivery of event <paramref name="id"/> with type <paramref name="type"/> (where the provider has types).</summary>
    public static HttpRequestMessage Build(string route, string id, DateTimeOffset now, string type = "test.effect", Signing signing = Signing.Good)
    {
        var ts = (signing == Signing.Stale ? now.AddMinutes(-6) : now).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        switch (route)
        {
            case "stripe":
            {
                var body = $$$"""{"id":"{{{id}}}","object":"event","type":"{{{type}}}","api_version":"2019-02-19","created":{{{ts}}},"livemode":false,"data":{"object":{"id":"obj_1","object":"thing"} } }""";
                var secret = signing == Signing.Bad ? "whsec_wrong" : StripeSecret;
                return Json("/webhooks/stripe", body, ("Stripe-Signature", $"t={ts},v1={Hex(HmacSha256(Encoding.UTF8.GetBytes(secret), $"{ts}.{body}"))}"));
            }
            case "clerk":
            case "recall":
            {
                var body = route == "clerk"
                    ? $$$"""{"type":"{{{type}}}","object":"event","timestamp":1716883200000,"data":{"id":"x"}}"""
                    : $$$"""{"event":"{{{type}}}","data":{"bot":{"id":"bot_1"} } }""";
                var secret = route == "clerk" ? ClerkSecret : RecallSecret;
                var key = Convert.FromBase64String(secret["whsec_".Length..]);
                if (signing == Signing.Bad) key = [1, 2, 3];
                var signature = "v1," + Convert.ToBase64String(HmacSha256(key, $"{id}.{ts}.{body}"));
                // Clerk sends the svix-* family, newer Recall workspaces the Standard Webhooks one.
                var prefix = route == "clerk" ? "svix" : "webhook";
                return Json($"/webhooks/{route}", body, ($"{prefix}-id", id), ($"{prefix}-timestamp", ts), ($"{prefix}-signature", signature));
            }
            case "deepgram":
            {
                var body = $$$"""{"metadata":{"request_id":"{{{id}}}","created":"2026-11-23T12:00:00Z"},"results":{"channels":[]}}""";
                var token = signing == Signing.Good ? DeepgramToken : "dg-callback-token-WRONG-0123456789";
                return Json($"/webhooks/deepgram?token={token}", body);
            }
            case "paddle":
            {
                var body = $$$"""{"event_id":"{{{id}}}","event_type":"{{{type}}}","occurred_at":"2026-11-23T12:00:00Z","notification_id":"ntf_1","data":{}}""";
                var secret = signing == Signing.Bad ? "pdl_wrong" : PaddleSecret;
                return Json("/webhooks/paddle", body, ("Paddle-Signature", $"ts={ts};h1={Hex(HmacSha256(Encoding.UTF8.GetBytes(secret), $"{ts}:{body}"))}"));
            }
            case "twilio-sms":
            case "twilio-status":
            {
                var path = route == "twilio-sms" ? "/webhooks/twilio/sms" : "/webhooks/twilio/status";
                var form = route == "twilio-sms"
                    ? new SortedDictionary<string, string>(StringComparer.Ordinal) { ["MessageSid"] = id, ["From"] = "+14155550100", ["To"] = "+14155550199", ["Body"] = "Hello there & more" }
                    : new SortedDictionary<string, string>(StringComparer.Ordinal) { ["MessageSid"] = id, ["MessageStatus"] = "delivered", ["To"] = "+14155550100" };
                var data = new StringBuilder(PublicBaseUrl + path);
                foreach (var (name, value) in form) data.Append(name).Append(value);
                var token = signing == Signing.Bad ? "wrong-token" : TwilioToken;
                var signature = Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(data.ToString())));
                var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
                request.Headers.Add("X-Twilio-Signature", signature);
                return request;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(route));
        }
    }

    /// <summary>A Clerk delivery (svix-signed) of an arbitrary body.</summary>
    public static HttpRequestMessage Clerk(string messageId, string body, DateTimeOffset now)
    {
        var ts = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var key = Convert.FromBase64String(ClerkSecret["whsec_".Length..]);
        var signature = "v1," + Convert.ToBase64String(HmacSha256(key, $"{messageId}.{ts}.{body}"));
        return Json("/webhooks/clerk", body, ("svix-id", messageId), ("svix-timestamp", ts), ("svix-signature", signature));
    }

    private static HttpRequestMessage Json(string path, string body, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        return request;
    }

    private static byte[] HmacSha256(byte[] key, string content) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(content));

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}

/// <summary>What the test handler did, per event id: calls, and how many more calls should fail.</summary>
public sealed class EffectLog
{
    public ConcurrentDictionary<string, int> Calls { get; } = new();
    public ConcurrentDictionary<string, int> FailuresLeft { get; } = new();

    /// <summary>The order in which handlers ran, as "handler:event id".</summary>
    public ConcurrentQueue<string> Sequence { get; } = new();
}

/// <summary>
/// A second handler of Paddle's <c>test.fanout</c> events, as a second slice would register one: it runs after
/// <see cref="EffectHandler"/> (higher <see cref="Order"/>), writes its own row, and fails when told to through
/// <c>FailuresLeft["second:" + event id]</c>.
/// </summary>
internal sealed class SecondEffectHandler(EffectLog effects) : IWebhookHandler
{
    public string Provider => "paddle";

    public bool Handles(string eventType) => eventType == "test.fanout";

    public int Order => 10;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        effects.Sequence.Enqueue("second:" + context.Event.EventId);
        await context.Connection.ExecuteAsync(new CommandDefinition(
            "insert into webhook_test_effects (id, provider, event_id) values (@id, 'paddle-second', @EventId)",
            new { id = Guid.NewGuid().ToString(), context.Event.EventId }, context.Transaction, cancellationToken: ct));
        var key = "second:" + context.Event.EventId;
        if (effects.FailuresLeft.TryGetValue(key, out var left) && left > 0)
        {
            effects.FailuresLeft[key] = left - 1;
            throw new InvalidOperationException("Second handler told to fail.");
        }
    }
}

/// <summary>
/// A handler for every provider's events (Clerk's only for <c>test.*</c> types, the real Clerk handlers own the
/// rest). It writes a row through the inbox's transaction, then fails if told to: a failure must leave no row.
/// </summary>
internal sealed class EffectHandler(string provider, EffectLog effects) : IWebhookHandler
{
    public string Provider => provider;

    public bool Handles(string eventType) => provider != "clerk" || eventType.StartsWith("test.", StringComparison.Ordinal);

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        effects.Calls.AddOrUpdate(context.Event.EventId, 1, (_, n) => n + 1);
        effects.Sequence.Enqueue("first:" + context.Event.EventId);
        await context.Connection.ExecuteAsync(new CommandDefinition(
            "insert into webhook_test_effects (id, provider, event_id) values (@id, @Provider, @EventId)",
            new { id = Guid.NewGuid().ToString(), context.Event.Provider, context.Event.EventId }, context.Transaction, cancellationToken: ct));
        // One processor at a time per event (the inbox's claim), so a plain read-then-write is enough here.
        if (effects.FailuresLeft.TryGetValue(context.Event.EventId, out var left) && left > 0)
        {
            effects.FailuresLeft[context.Event.EventId] = left - 1;
            throw new InvalidOperationException($"Test handler told to fail ({left - 1} failures left).");
        }
    }
}

/// <summary>Answers Twilio inbound SMS with a fixed TwiML message.</summary>
internal sealed class TestSmsReply : IWebhookReply
{
    public string Provider => "twilio";
    public string EventType => "sms.inbound";

    public WebhookReplyBody Reply(WebhookEvent webhookEvent) =>
        new("text/xml", $"""<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks for {webhookEvent.EventId}</Message></Response>""");
}

public static class WebhookTestServices
{
    public static void Add(IServiceCollection services)
    {
        // These inbox tests observe their own Twilio handler and reply; the Messaging slice's real ones step aside
        // (they would run beside the test handler, and the first matching reply is used). They are tested in
        // Features/Messaging.
        Type[] messaging = [typeof(Backstop.Features.Messaging.InboundSmsHandler), typeof(Backstop.Features.Messaging.SmsStatusHandler), typeof(Backstop.Features.Messaging.InboundSmsReply)];
        foreach (var descriptor in services.Where(d => d.ImplementationType is { } t && messaging.Contains(t)).ToList())
            services.Remove(descriptor);
        services.AddSingleton<EffectLog>();
        foreach (var provider in new[] { "stripe", "clerk", "recall", "deepgram", "paddle", "twilio" })
            services.AddScoped<IWebhookHandler>(sp => new EffectHandler(provider, sp.GetRequiredService<EffectLog>()));
        // Registered before the first handler on purpose: the order of running comes from Order, not registration.
        services.Insert(0, ServiceDescriptor.Scoped<IWebhookHandler>(sp => new SecondEffectHandler(sp.GetRequiredService<EffectLog>())));
        services.AddSingleton<IWebhookReply, TestSmsReply>();
    }

    public static async Task EnsureEffectsTableAsync(BackstopFactory app)
    {
        await using var connection = await app.OpenAsync();
        await connection.ExecuteAsync("create table if not exists webhook_test_effects (id text primary key, provider text not null, event_id text not null)");
    }
}
