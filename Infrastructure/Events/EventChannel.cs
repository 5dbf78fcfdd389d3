using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Prometheus;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// The outbox channel <c>event</c>: delivers one event to one endpoint (a message of <see cref="EventPublisher"/>),
/// signed per Standard Webhooks.
/// <para>The request: <c>POST {url}</c>, <c>Content-Type: application/json</c>, headers <c>webhook-id</c> (the event
/// id: the same on every retry and replay, so a consumer deduplicates on it), <c>webhook-timestamp</c> (unix seconds
/// of this attempt) and <c>webhook-signature</c>: <c>v1,&lt;base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")&gt;</c>
/// with key = the base64-decoded part of the secret after <c>whsec_</c>; while a rotated secret is still valid
/// (<c>previous_secret_expires_at</c> &gt; now) the header carries the new secret's signature, a space, and the old one's.</para>
/// <para>The body (the envelope, version 1):
/// <code>
/// {
///   "id": "evt_…",                  // the event id (= webhook-id)
///   "type": "meeting.transcribed",  // EventTypes
///   "timestamp": "2026-11-23T12:00:00+00:00", // when the change committed (occurred_at), ISO 8601
///   "organizationId": "org_…",      // null for operator events (inbox.event_dead, endpoint.disabled)
///   "sequence": 42,                 // per organization (or operator stream), gap-free in commit order
///   "version": 1,                   // of the data's shape
///   "data": { … }                   // the resource as the REST API shows it
/// }
/// </code></para>
/// <para>A 2xx within <c>Events:TimeoutSeconds</c> is delivered; anything else (3xx included: redirects are not
/// followed), a timeout or a transport error is retried on Svix's schedule (<see cref="Schedule"/>), or later when a
/// 429/503 says so in <c>Retry-After</c>; after the 8th attempt the message is dead. Each attempt is logged in
/// <c>event_delivery_attempts</c> together with the endpoint's health (<see cref="EventEndpointHealth"/>), by the
/// result's <see cref="DeliveryResult.Write"/> in the dispatcher's transaction that records the result (a group
/// commit): the channel supplies it rather than an <see cref="IOutboxListener"/>, because only the channel has the
/// response's status and body, and the log must hold an attempt even when the dispatcher could not record its result
/// (a lost lease: the write comes before the claim is checked).</para>
/// <para>Fairness: at most <c>Events:MaxInFlightPerEndpoint</c> deliveries to one endpoint at once, across instances:
/// the dispatcher's claim leaves the endpoint's further messages pending, unclaimed (<see cref="MaxInFlightPerTarget"/>;
/// the messages' target is the endpoint); the in-process limiter checks it again, and no more than the endpoint's
/// <c>rate_limit_per_second</c> are sent: a message over either is <see cref="DeliveryOutcome.Deferred"/> (back to
/// pending shortly, its attempt given back, not a failure).</para>
/// </summary>
internal sealed class EventChannel(
    Db db,
    TimeProvider time,
    IHttpClientFactory httpClients,
    EventSecrets secrets,
    EventEndpointHealth health,
    EventEndpointLimiter limiter,
    IOptions<EventsOptions> options,
    ILogger<EventChannel> log) : IOutboxChannel
{
    public const int MaxResponseBodyBytes = 4096;

    /// <summary>Svix's retry schedule: the delay after failed attempt n is Schedule[n − 1] (the first attempt is immediate).</summary>
    public static readonly IReadOnlyList<TimeSpan> Schedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>A Retry-After longer than this is taken as this.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromHours(24);

    public string Name => EventDelivery.Channel;

    public TimeSpan? RetryDelay(int attempt) => Schedule[Math.Clamp(attempt, 1, Schedule.Count) - 1];

    /// <summary>An endpoint's messages beyond <c>Events:MaxInFlightPerEndpoint</c> in flight stay pending, unclaimed (the target is the endpoint).</summary>
    public int? MaxInFlightPerTarget => options.Value.MaxInFlightPerEndpoint;

    /// <summary>Prepared batches hold at most this many messages' rows; past it the oldest preparations are dropped (a delivery then reads for itself).</summary>
    public const int MaxPrepared = 4096;

    private const string EventColumns = "id, type, organization_id, sequence, version, occurred_at, data";

    private const string EndpointColumns =
        "id, organization_id, url, enabled, deleted_at, rate_limit_per_second, secret_protected, previous_secret_protected, previous_secret_expires_at";

    /// <summary>The rows read for a claimed batch, by message id; taken (removed) by the message's delivery.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (EventRow? Event, EndpointRow? Endpoint)> prepared = new(StringComparer.Ordinal);

    /// <summary>
    /// The events and endpoints of a claimed batch in two statements (instead of two per delivery), read right after
    /// the claim as each delivery would have read them; each delivery takes its rows from here.
    /// </summary>
    public async Task PrepareBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken ct)
    {
        // Whatever an earlier claim of these messages left (a delivery that never ran) is not used again.
        foreach (var message in messages) prepared.TryRemove(message.Id, out _);
        var payloads = messages.Select(m => (m.Id, Payload: m.PayloadAs<EventDelivery.Payload>())).ToList();
        var eventIds = payloads.Select(p => p.Payload.EventId).Distinct(StringComparer.Ordinal).ToArray();
        var endpointIds = payloads.Select(p => p.Payload.EndpointId).Distinct(StringComparer.Ordinal).ToArray();
        Dictionary<string, EventRow> events;
        Dictionary<string, EndpointRow> endpoints;
        await using (var connection = await db.OpenAsync(ct))
        {
            events = (await connection.QueryAsync<EventRow>(new CommandDefinition(
                $"select {EventColumns} from events where {DialectSql.Of(connection).AnyOf("id", "eventIds")}", new { eventIds }, cancellationToken: ct)))
                .ToDictionary(e => e.Id, StringComparer.Ordinal);
            endpoints = (await connection.QueryAsync<EndpointRow>(new CommandDefinition(
                $"select {EndpointColumns} from event_endpoints where {DialectSql.Of(connection).AnyOf("id", "endpointIds")}", new { endpointIds }, cancellationToken: ct)))
                .ToDictionary(e => e.Id, StringComparer.Ordinal);
        }
        if (prepared.Count + payloads.Count > MaxPrepared) prepared.Clear();
        foreach (var (id, payload) in payloads)
            prepared[id] = (events.GetValueOrDefault(payload.EventId), endpoints.GetValueOrDefault(payload.EndpointId));
    }

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        EventRow? evt;
        EndpointRow? endpoint;
        if (prepared.TryRemove(message.Id, out var rows))
        {
            (evt, endpoint) = rows;
        }
        else
        {
            var payload = message.PayloadAs<EventDelivery.Payload>();
            await using var connection = await db.OpenAsync(ct);
            evt = await connection.QuerySingleOrDefaultAsync<EventRow>(new CommandDefinition(
                $"select {EventColumns} from events where id = @EventId", payload, cancellationToken: ct));
            endpoint = await connection.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition(
                $"select {EndpointColumns} from event_endpoints where id = @EndpointId", payload, cancellationToken: ct));
        }
        var skipped = evt is null ? "event deleted"
            : endpoint is null || endpoint.DeletedAt is not null ? "endpoint deleted"
            : !endpoint.Enabled ? "endpoint disabled"
            : null;
        if (skipped is not null)
        {
            EventDeliveryMetrics.Deliveries.WithLabels(EventAttemptOutcome.Skipped).Inc();
            return DeliveryResult.Permanent(skipped);
        }

        using var slot = limiter.TryEnter(endpoint!.Id, endpoint.RateLimitPerSecond, out var wait);
        if (slot is null)
        {
            EventDeliveryMetrics.Deliveries.WithLabels("deferred").Inc();
            return DeliveryResult.Deferred("endpoint at its concurrency or rate limit", wait);
        }

        var o = options.Value;
        var started = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        int? status = null;
        string? responseBody = null;
        string? error = null;
        TimeSpan? retryAfter = null;
        var outcome = EventAttemptOutcome.Failed;
        try
        {
            if (!Uri.TryCreate(endpoint.Url, UriKind.Absolute, out var url) || !(url.Scheme == Uri.UriSchemeHttps || (o.AllowHttp && url.Scheme == Uri.UriSchemeHttp)))
            {
                outcome = EventAttemptOutcome.Refused;
                error = o.AllowHttp ? "The endpoint URL is not an http(s) URL." : "The endpoint URL is not https (Events:AllowHttp is false).";
            }
            else
            {
                var body = Body(evt!);
                var timestamp = started.ToUnixTimeSeconds();
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                request.Headers.TryAddWithoutValidation("webhook-id", evt!.Id);
                request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
                request.Headers.TryAddWithoutValidation("webhook-signature", SignatureHeader(endpoint, evt.Id, timestamp, body, started));
                request.Headers.UserAgent.ParseAdd("Backstop-Webhooks/1");

                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(o.TimeoutSeconds), time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
                try
                {
                    using var response = await httpClients.CreateClient(EventDeliveryHttp.ClientName)
                        .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
                    status = (int)response.StatusCode;
                    responseBody = await ReadStartAsync(response, linked.Token);
                    if (response.IsSuccessStatusCode) outcome = EventAttemptOutcome.Sent;
                    else
                    {
                        error = $"HTTP {status}";
                        if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
                            retryAfter = RetryAfter(response, time.GetUtcNow());
                    }
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    error = $"No answer within {o.TimeoutSeconds} s.";
                }
                catch (HttpRequestException e) when (FindRefusal(e) is { } refusal)
                {
                    outcome = EventAttemptOutcome.Refused;
                    error = refusal.Message;
                }
                catch (HttpRequestException e)
                {
                    error = Truncate(e.HttpRequestError + ": " + e.Message, 500);
                }
            }
        }
        finally
        {
            clock.Stop();
        }

        // A shutdown or a lost lease cancelled the call: not an attempt of the endpoint's, the next claim does it again.
        ct.ThrowIfCancellationRequested();

        var attempt = new EventDeliveryAttempt(Ids.New(time), evt!.Id, endpoint.Id, message.Id, message.Attempts, started, clock.ElapsedMilliseconds,
            status, responseBody, error, outcome);
        // The attempt's log row and the endpoint's health go into the transaction that records the result.
        Func<System.Data.Common.DbConnection, System.Data.Common.DbTransaction, Task> write =
            (connection, tx) => health.RecordAsync(connection, tx, attempt, endpoint.Id, CancellationToken.None, count: false);
        IReadOnlyList<Backstop.Infrastructure.Stats.HourlyIncrement> counts = [EventEndpointHealth.Count(attempt)];

        EventDeliveryMetrics.Deliveries.WithLabels(outcome).Inc();
        if (outcome == EventAttemptOutcome.Sent)
        {
            EventDeliveryMetrics.DeliverySeconds.Observe(Math.Max(0, (time.GetUtcNow() - evt.OccurredAt).TotalSeconds));
            return DeliveryResult.Sent(status?.ToString(System.Globalization.CultureInfo.InvariantCulture)) with { Write = write, Counts = counts };
        }
        log.LogInformation("Event {EventId} to endpoint {EndpointId}: attempt {Attempt} failed: {Error}", evt.Id, endpoint.Id, message.Attempts, error);
        return DeliveryResult.Transient(error ?? "failed", retryAfter) with { Write = write, Counts = counts };
    }

    /// <summary>The envelope (see the class comment), UTF-8 JSON; <c>data</c> is the stored JSON as it is.</summary>
    internal static byte[] Body(EventRow evt)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", evt.Id);
            json.WriteString("type", evt.Type);
            json.WriteString("timestamp", evt.OccurredAt.ToUniversalTime());
            if (evt.OrganizationId is null) json.WriteNull("organizationId");
            else json.WriteString("organizationId", evt.OrganizationId);
            json.WriteNumber("sequence", evt.Sequence);
            json.WriteNumber("version", evt.Version);
            json.WritePropertyName("data");
            json.WriteRawValue(evt.Data);
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private string SignatureHeader(EndpointRow endpoint, string id, long timestamp, byte[] body, DateTimeOffset now)
    {
        var header = Sign(secrets.Unprotect(endpoint.SecretProtected), id, timestamp, body);
        if (endpoint.PreviousSecretProtected is { } previous && endpoint.PreviousSecretExpiresAt > now)
            header += " " + Sign(secrets.Unprotect(previous), id, timestamp, body);
        return header;
    }

    /// <summary><c>v1,</c> + base64 HMAC-SHA256 over <c>{id}.{timestamp}.{body}</c> with the secret's key.</summary>
    public static string Sign(string secret, string id, long timestamp, byte[] body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed, prefix.Length);
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(EventSecrets.Key(secret), signed));
    }

    private static async Task<string?> ReadStartAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxResponseBodyBytes];
        var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
        if (read == 0) return null;
        // PostgreSQL text holds no NUL; a binary answer is stored as its UTF-8 reading.
        return Encoding.UTF8.GetString(buffer, 0, read).Replace("\0", "", StringComparison.Ordinal);
    }

    /// <summary>The answer's Retry-After (seconds or an HTTP date), capped at <see cref="MaxRetryAfter"/>.</summary>
    internal static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        var header = response.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } date ? date - now : null);
        if (delay is not { } d || d <= TimeSpan.Zero) return null;
        return d > MaxRetryAfter ? MaxRetryAfter : d;
    }

    private static EventTargetRefusedException? FindRefusal(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is EventTargetRefusedException refused) return refused;
        return null;
    }

    private static string Truncate(string s, int max) => s.Length > max ? s[..max] : s;

    internal sealed class EventRow
    {
        public string Id { get; init; } = "";
        public string Type { get; init; } = "";
        public string? OrganizationId { get; init; }
        public long Sequence { get; init; }
        public long Version { get; init; }
        public DateTimeOffset OccurredAt { get; init; }
        public string Data { get; init; } = "{}";
    }

    internal sealed class EndpointRow
    {
        public string Id { get; init; } = "";
        public string? OrganizationId { get; init; }
        public string Url { get; init; } = "";
        public bool Enabled { get; init; }
        public DateTimeOffset? DeletedAt { get; init; }
        public long? RateLimitPerSecond { get; init; }
        public string SecretProtected { get; init; } = "";
        public string? PreviousSecretProtected { get; init; }
        public DateTimeOffset? PreviousSecretExpiresAt { get; init; }
    }
}
