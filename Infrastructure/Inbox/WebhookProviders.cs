using System.Text;
using Backstop.Infrastructure.Providers.Clerk;
using Backstop.Infrastructure.Providers.Deepgram;
using Backstop.Infrastructure.Providers.Paddle;
using Backstop.Infrastructure.Providers.Recall;
using Backstop.Infrastructure.Providers.Stripe;
using Backstop.Infrastructure.Providers.Svix;
using Backstop.Infrastructure.Providers.Twilio;
using Microsoft.AspNetCore.WebUtilities;
using EventUtility = Stripe.EventUtility;
using StripeException = Stripe.StripeException;

namespace Backstop.Infrastructure.Inbox;

/// <summary>A delivery whose signature checked out: what the inbox stores.</summary>
internal sealed record IncomingWebhook(string Provider, string EventId, string EventType, string Payload);

/// <summary>The routes of the inbox; the provider and, for Twilio, the event type follow from the route.</summary>
internal enum WebhookRoute
{
    Stripe,
    Clerk,
    Recall,
    Deepgram,
    Paddle,
    TwilioSms,
    TwilioStatus,
}

/// <summary>
/// Per provider: whether it is configured, how its signature is checked over the raw body, and where its event id
/// and type are. Nothing here parses a body before its signature (or token) has been checked.
/// </summary>
internal sealed class WebhookProviders(
    TimeProvider time,
    IOptions<WebhooksOptions> inbox,
    IOptions<StripeOptions> stripe,
    IOptions<ClerkOptions> clerk,
    IOptions<RecallOptions> recall,
    IOptions<DeepgramOptions> deepgram,
    IOptions<PaddleOptions> paddle,
    IOptions<TwilioOptions> twilio,
    IEnumerable<IDeepgramCallbackTokens> callbackTokens)
{
    public const string TwilioInbound = "sms.inbound";
    public const string TwilioStatus = "sms.status";

    public static string ProviderOf(WebhookRoute route) => route switch
    {
        WebhookRoute.TwilioSms or WebhookRoute.TwilioStatus => "twilio",
        _ => route.ToString().ToLowerInvariant(),
    };

    public bool IsConfigured(WebhookRoute route) => route switch
    {
        WebhookRoute.Stripe => stripe.Value.Enabled,
        WebhookRoute.Clerk => clerk.Value.Enabled,
        WebhookRoute.Recall => recall.Value.Enabled,
        WebhookRoute.Deepgram => deepgram.Value.Enabled,
        WebhookRoute.Paddle => paddle.Value.Enabled,
        WebhookRoute.TwilioSms or WebhookRoute.TwilioStatus => twilio.Value.WebhooksEnabled,
        _ => false,
    };

    /// <summary>Longest event id or type stored: every provider's are far shorter (ids of ~30 characters, types of ~40).</summary>
    public const int MaxIdentifierLength = 255;

    /// <summary>
    /// Checks the signature of <paramref name="body"/> and extracts the event; throws a problem otherwise. A signed
    /// event whose id or type is over <see cref="MaxIdentifierLength"/> characters or holds control characters is
    /// refused (400) and not stored: no provider sends one, and such values would bloat the unique index and the logs.
    /// </summary>
    public async ValueTask<IncomingWebhook> VerifyAsync(WebhookRoute route, HttpRequest request, byte[] body, CancellationToken ct)
    {
        var incoming = await VerifySignatureAsync(route, request, body, ct);
        CheckIdentifier("event id", incoming.EventId);
        CheckIdentifier("event type", incoming.EventType);
        return incoming;
    }

    private static void CheckIdentifier(string what, string value)
    {
        if (value.Length > MaxIdentifierLength)
            throw InvalidPayload($"The {what} is {value.Length} characters long; at most {MaxIdentifierLength} are accepted.");
        if (value.Any(char.IsControl))
            throw InvalidPayload($"The {what} contains control characters.");
    }

    private async ValueTask<IncomingWebhook> VerifySignatureAsync(WebhookRoute route, HttpRequest request, byte[] body, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var tolerance = TimeSpan.FromSeconds(inbox.Value.SignatureToleranceSeconds);
        string? Header(string name) => request.Headers.TryGetValue(name, out var v) && v.Count > 0 ? v.ToString() : null;
        switch (route)
        {
            case WebhookRoute.Stripe:
            {
                var json = Encoding.UTF8.GetString(body);
                var header = Header("Stripe-Signature") ?? throw WebhookRejectedException.Missing("Stripe-Signature header");
                try
                {
                    // Stripe.net checks the signature and its timestamp; the body is not deserialised into an Event
                    // (the inbox stores the raw body and needs only id and type), which would cost more than the
                    // whole rest of the delivery. The account's API version is chosen in Stripe's dashboard and is
                    // not checked: refusing every event after an upgrade there would only make Stripe retry for 3 days.
                    EventUtility.ValidateSignature(json, header, stripe.Value.WebhookSecret!.Trim(),
                        tolerance: inbox.Value.SignatureToleranceSeconds, utcNow: now.ToUnixTimeSeconds());
                }
                catch (StripeException e)
                {
                    throw e.Message.Contains("tolerance", StringComparison.OrdinalIgnoreCase)
                        ? WebhookRejectedException.Stale()
                        : WebhookRejectedException.Invalid(e.Message);
                }
                using var document = ParseObject(body, "The body is not a Stripe event.");
                var root = document.RootElement;
                if (String(root, "id") is not { } id || String(root, "type") is not { } type)
                    throw InvalidPayload("The Stripe event has no id or type.");
                return new IncomingWebhook("stripe", id, type, json);
            }
            case WebhookRoute.Clerk:
            case WebhookRoute.Recall:
            {
                var secret = route == WebhookRoute.Clerk ? clerk.Value.WebhookSecret! : recall.Value.WebhookSecret!;
                var messageId = SvixSignature.Verify(secret, Header, body, now, tolerance);
                using var document = ParseObject(body);
                var root = document.RootElement;
                // Clerk: "type". Recall: "event" (also the legacy "bot.status_change" shape).
                var type = route == WebhookRoute.Clerk
                    ? String(root, "type")
                    : String(root, "event") ?? String(root, "type");
                return new IncomingWebhook(ProviderOf(route), messageId, type ?? throw InvalidPayload("The event has no type."), Encoding.UTF8.GetString(body));
            }
            case WebhookRoute.Deepgram:
                using (var stream = new MemoryStream(body, writable: false))
                    return await VerifyDeepgramAsync(request, stream, ct);
            case WebhookRoute.Paddle:
            {
                PaddleSignature.Verify(paddle.Value.WebhookSecret!.Trim(), Header("Paddle-Signature"), body, now,
                    TimeSpan.FromSeconds(inbox.Value.PaddleSignatureToleranceSeconds));
                using var document = ParseObject(body);
                var root = document.RootElement;
                return new IncomingWebhook("paddle",
                    String(root, "event_id") ?? throw InvalidPayload("The notification has no event_id."),
                    String(root, "event_type") ?? throw InvalidPayload("The notification has no event_type."),
                    Encoding.UTF8.GetString(body));
            }
            case WebhookRoute.TwilioSms:
            case WebhookRoute.TwilioStatus:
            {
                var url = twilio.Value.PublicBaseUrl!.Trim().TrimEnd('/') + request.PathBase + request.Path + request.QueryString;
                Dictionary<string, string[]> form;
                if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
                {
                    // JSON-bodied requests are signed over the URL, whose bodySHA256 parameter carries the body's hash.
                    var text = Encoding.UTF8.GetString(body);
                    TwilioSignature.VerifyJson(twilio.Value.AuthToken!.Trim(), url, text, Header("X-Twilio-Signature"));
                    using var document = ParseObject(body);
                    form = document.RootElement.EnumerateObject()
                        .ToDictionary(p => p.Name, p => new[] { p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText() }, StringComparer.Ordinal);
                }
                else
                {
                    try
                    {
                        form = new FormReader(Encoding.UTF8.GetString(body)).ReadForm()
                            .ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => v ?? "").ToArray(), StringComparer.Ordinal);
                    }
                    catch (InvalidDataException e)
                    {
                        // FormReader's own limits (field count, key and value length): a bad request, not a server error.
                        throw InvalidPayload("The form could not be read: " + e.Message);
                    }
                    TwilioSignature.Verify(twilio.Value.AuthToken!.Trim(), url, form, Header("X-Twilio-Signature"));
                }
                var sid = form.TryGetValue("MessageSid", out var s) && s.Length > 0 && s[0].Length > 0 ? s[0] : null;
                if (sid is null) throw InvalidPayload("The request has no MessageSid.");
                string eventId, type;
                if (route == WebhookRoute.TwilioSms)
                {
                    (eventId, type) = (sid, TwilioInbound);
                }
                else
                {
                    var status = form.TryGetValue("MessageStatus", out var st) && st.Length > 0 && st[0].Length > 0 ? st[0] : null;
                    // Each status of a message is its own event; a repeated one is a duplicate.
                    (eventId, type) = (sid + ":" + (status ?? throw InvalidPayload("The status callback has no MessageStatus.")), TwilioStatus);
                }
                var payload = JsonSerializer.Serialize(form.ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value)));
                return new IncomingWebhook("twilio", eventId, type, payload);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(route));
        }
    }

    /// <summary>
    /// Deepgram's callback, read from its stream: the token first (before a byte of the body), then the body,
    /// parsed once and reduced (<see cref="DeepgramCallback"/>). A per-request token binds the callback to its
    /// transcription: a body naming another one is refused, and the stored event names the token's transcription,
    /// whatever the body says. The static <c>Deepgram:CallbackToken</c> binds nothing (requests made elsewhere).
    /// </summary>
    public async ValueTask<IncomingWebhook> VerifyDeepgramAsync(HttpRequest request, Stream body, CancellationToken ct)
    {
        var token = request.Query["token"].ToString();
        DeepgramTokenGrant? grant = null;
        var valid = !string.IsNullOrEmpty(token) &&
                    ((deepgram.Value.HasStaticToken && Secrets.FixedTimeEquals(token, deepgram.Value.CallbackToken!.Trim())) ||
                     (grant = await GrantOfAsync(token, ct)) is not null);
        if (!valid) throw new WebhookRejectedException(401, "invalid_token", "The callback token is missing, wrong or expired.");
        DeepgramCallbackEvent callback;
        try
        {
            callback = await DeepgramCallback.ReadAsync(body, grant?.TranscriptionId, ct);
        }
        catch (JsonException)
        {
            throw InvalidPayload("The body is not a JSON object.");
        }
        if (grant is not null && callback.ExtraTranscriptionId is { } named && !string.Equals(named, grant.TranscriptionId, StringComparison.Ordinal))
            throw new WebhookRejectedException(401, "invalid_token", "The callback token belongs to another transcription.");
        var incoming = new IncomingWebhook("deepgram", callback.RequestId ?? throw InvalidPayload("The callback has no request_id."), callback.EventType, callback.Payload);
        CheckIdentifier("event id", incoming.EventId);
        return incoming;
    }

    private async ValueTask<DeepgramTokenGrant?> GrantOfAsync(string token, CancellationToken ct)
    {
        foreach (var tokens in callbackTokens)
            if (await tokens.GrantOfAsync(token, ct) is { } grant) return grant;
        return null;
    }

    private static ProblemException InvalidPayload(string detail) => new(400, "invalid_payload", detail);

    private static JsonDocument ParseObject(byte[] body, string notAnObject = "The body is not a JSON object.")
    {
        try
        {
            var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object) return document;
            document.Dispose();
        }
        catch (JsonException)
        {
        }
        throw InvalidPayload(notAnObject);
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s ? s : null;
}
