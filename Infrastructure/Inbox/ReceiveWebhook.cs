using System.Buffers;
using FastEndpoints;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// The inbox's one receive endpoint, with one route per provider (<see cref="ProviderRoutes"/>): verify the
/// signature over the raw body, hand the event to the group commit, which stores and processes it with the other
/// concurrent deliveries in one durable commit (a duplicate is answered 200 and not processed again; a failing
/// handler is recorded and retried by the inbox job), and answer 2xx only once that commit is durable. There is deliberately no request DTO: nothing may parse the body
/// before its signature is checked, and signatures are over the exact bytes.
/// </summary>
internal sealed class ReceiveWebhook(WebhookProviders providers, WebhookInbox inbox, WebhookGroupCommit groupCommit, IOptions<WebhooksOptions> options, ILogger<ReceiveWebhook> log)
    : EndpointWithoutRequest
{
    /// <summary>The route of each provider; the route alone says which provider's signature applies.</summary>
    public static readonly IReadOnlyDictionary<string, WebhookRoute> ProviderRoutes = new Dictionary<string, WebhookRoute>(StringComparer.OrdinalIgnoreCase)
    {
        ["/webhooks/stripe"] = WebhookRoute.Stripe,
        ["/webhooks/clerk"] = WebhookRoute.Clerk,
        ["/webhooks/recall"] = WebhookRoute.Recall,
        ["/webhooks/deepgram"] = WebhookRoute.Deepgram,
        ["/webhooks/paddle"] = WebhookRoute.Paddle,
        ["/webhooks/twilio/sms"] = WebhookRoute.TwilioSms,
        ["/webhooks/twilio/status"] = WebhookRoute.TwilioStatus,
    };

    public override void Configure()
    {
        Post([.. ProviderRoutes.Keys]);
        AllowAnonymous();
        Summary(s => s.Summary = "Webhook inbox of one provider (signed deliveries only): stored once, acknowledged once durable.");
        // Twilio is answered TwiML (the reply to an inbound SMS, or an empty one), every other provider a small JSON
        // acknowledgement. Signatures fail 400 (Twilio's mismatch 403, Deepgram's callback token 401).
        Description(d => d
            .SummaryOn(r => RouteOf(r) switch
            {
                WebhookRoute.Stripe => "Stripe events (Stripe-Signature).",
                WebhookRoute.Clerk => "Clerk events (Svix signature).",
                WebhookRoute.Recall => "Recall.ai events (Svix signature).",
                WebhookRoute.Deepgram => "Deepgram transcription callbacks (callback token).",
                WebhookRoute.Paddle => "Paddle events (Paddle-Signature).",
                WebhookRoute.TwilioSms => "Twilio inbound SMS (X-Twilio-Signature); answered with TwiML.",
                WebhookRoute.TwilioStatus => "Twilio SMS status callbacks (X-Twilio-Signature).",
                _ => null,
            })
            .AnswersOn<WebhookReceived>(r => !IsTwilio(r), 200)
            .AnswersOn<string>(IsTwilio, 200, "text/xml")
            .Problems(400, 413, 503)
            .ProblemsOn(IsTwilio, 403)
            .ProblemsOn(r => RouteOf(r) == WebhookRoute.Deepgram, 401));
    }

    private static WebhookRoute? RouteOf(string pattern) => ProviderRoutes.TryGetValue("/" + pattern.Trim('/'), out var route) ? route : null;

    private static bool IsTwilio(string pattern) => RouteOf(pattern) is WebhookRoute.TwilioSms or WebhookRoute.TwilioStatus;

    public override async Task HandleAsync(CancellationToken ct)
    {
        var route = ProviderRoutes[HttpContext.Request.Path.Value!.TrimEnd('/')];
        var provider = WebhookProviders.ProviderOf(route);
        if (!providers.IsConfigured(route))
            throw new ProblemException(503, "provider_not_configured", $"Webhooks from {provider} are not configured on this server.");

        var limit = options.Value.MaxBodyBytes.For(provider);
        IncomingWebhook incoming;
        try
        {
            // Deepgram's callbacks are whole transcripts (tens of MB): read once, from the stream, after the token.
            incoming = route == WebhookRoute.Deepgram
                ? await providers.VerifyDeepgramAsync(HttpContext.Request, new LimitedReadStream(HttpContext.Request, limit), ct)
                : await providers.VerifyAsync(route, HttpContext.Request, await ReadBodyAsync(HttpContext.Request, limit, ct), ct);
        }
        catch (WebhookRejectedException e)
        {
            WebhookMetrics.Rejected.WithLabels(provider).Inc();
            log.LogWarning("Rejected a {Provider} webhook delivery: {Code}", provider, e.Code);
            throw;
        }

        // Stored and processed in the next group commit; answered only once that commit is durable. A handler's
        // failure is recorded on the event (the inbox job retries it) and still acknowledged: the event is stored.
        IngestResult stored;
        try
        {
            stored = await groupCommit.SubmitAsync(incoming);
        }
        catch (Exception e)
        {
            log.LogWarning(e, "A {Provider} webhook event could not be stored; the provider will deliver it again", provider);
            throw new ProblemException(503, "inbox_unavailable", "The event could not be stored right now; deliver it again later.");
        }
        var id = stored.Id;
        if (id is null) log.LogInformation("Duplicate {Provider} webhook event {EventId} acknowledged", provider, incoming.EventId);

        var reply = await ReplyAsync(incoming, id, ct);
        if (reply is not null)
        {
            await Send.StringAsync(reply.Body, 200, reply.ContentType, ct);
            return;
        }
        await Send.OkAsync(new WebhookReceived(true, id is null), ct);
    }

    /// <summary>
    /// The body a registered <see cref="IWebhookReply"/> gives for this event (Twilio inbound SMS: the Messaging
    /// slice's TwiML), computed from the stored event so that a duplicate delivery is answered like the first one.
    /// Twilio without a reply gets empty TwiML; other providers a small JSON acknowledgement (null here).
    /// </summary>
    private async Task<WebhookReplyBody?> ReplyAsync(IncomingWebhook incoming, string? id, CancellationToken ct)
    {
        var replier = HttpContext.RequestServices.GetServices<IWebhookReply>()
            .FirstOrDefault(r => r.Provider == incoming.Provider && r.EventType == incoming.EventType);
        if (replier is null)
            return incoming.Provider == "twilio" ? new WebhookReplyBody("text/xml", """<?xml version="1.0" encoding="UTF-8"?><Response/>""") : null;
        var stored = id is null ? await inbox.FindAsync(incoming.Provider, incoming.EventId, ct) : await inbox.GetAsync(id, ct);
        return replier.Reply(stored?.ToEvent() ?? new WebhookEvent(id ?? "", incoming.Provider, incoming.EventId, incoming.EventType, incoming.Payload, DateTimeOffset.MinValue, 0));
    }

    /// <summary>
    /// Reads the raw body, refusing more than <paramref name="limit"/> bytes with 413. Kestrel enforces its own
    /// limit too, but not every server does (TestServer, other hosts), so the inbox does not rely on it.
    /// </summary>
    internal static async Task<byte[]> ReadBodyAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (request.ContentLength > limit) throw TooLarge(limit);
        using var stream = new MemoryStream(request.ContentLength is > 0 and var n ? (int)Math.Min(n, limit) : 4096);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(buffer, ct)) > 0)
            {
                if (stream.Length + read > limit) throw TooLarge(limit);
                stream.Write(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return stream.ToArray();
    }

    internal static ProblemException TooLarge(long limit) => new(413, "payload_too_large", $"The body is larger than {limit} bytes.");

    /// <summary>The request body, read forward only, refused with 413 past <c>limit</c> bytes (and at once when Content-Length says so).</summary>
    private sealed class LimitedReadStream(HttpRequest request, long limit) : Stream
    {
        private readonly Stream inner = request.ContentLength > limit ? throw TooLarge(limit) : request.Body;
        private long read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int n)
        {
            read += n;
            if (read > limit) throw TooLarge(limit);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>The acknowledgement of a delivery; <see cref="Duplicate"/> when the event was stored before.</summary>
internal sealed record WebhookReceived(bool Received, bool Duplicate);
