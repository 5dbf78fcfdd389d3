using System.Collections.Concurrent;
using System.Globalization;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Outbox;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StandardWebhooks;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>A resolver whose answers tests script per host (in order; the last answer repeats); other hosts resolve normally.</summary>
public sealed class ScriptedResolver : IEventTargetResolver
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<IPAddress[]>> answers = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, IPAddress[]> last = new(StringComparer.OrdinalIgnoreCase);

    public void Answer(string host, params IPAddress[][] inOrder)
    {
        var queue = answers.GetOrAdd(host, _ => new());
        foreach (var a in inOrder) queue.Enqueue(a);
    }

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct)
    {
        if (answers.TryGetValue(host, out var queue))
        {
            if (queue.TryDequeue(out var next)) last[host] = next;
            if (last.TryGetValue(host, out var answer)) return Task.FromResult(answer);
        }
        return new DnsEventTargetResolverForTests().ResolveAsync(host, ct);
    }

    private sealed class DnsEventTargetResolverForTests : IEventTargetResolver
    {
        public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) =>
            IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
    }
}

/// <summary>A local event receiver and SMTP server; each test drives the outbox by hand.</summary>
public class EventsSetup : AppSetup
{
    public EventReceiver Receiver { get; private set; } = null!;
    public SmtpTestServer Smtp { get; } = new();
    public ScriptedResolver Resolver { get; } = new();

    protected virtual bool AllowPrivateTargets => true;

    public override async ValueTask StartAsync() => Receiver = await EventReceiver.StartAsync();

    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Outbox:Parallelism"] = "4";
        settings["Events:AllowHttp"] = "true";
        settings["Events:AllowPrivateTargets"] = AllowPrivateTargets ? "true" : "false";
        settings["Events:MaxInFlightPerEndpoint"] = "2";
        settings["Email:Smtp:Host"] = "127.0.0.1";
        settings["Email:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture);
        settings["Email:Smtp:TlsMode"] = "none";
        settings["Email:From"] = "Backstop <no-reply@backstop.test>";
    }

    public override void ConfigureServices(IServiceCollection services)
    {
        services.RemoveAll<IEventTargetResolver>();
        services.AddSingleton<IEventTargetResolver>(Resolver);
    }

    public override async ValueTask DisposeAsync()
    {
        await Receiver.DisposeAsync();
        await Smtp.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>As <see cref="EventsSetup"/>, with the production rule: no private targets.</summary>
public sealed class StrictEventsSetup : EventsSetup
{
    protected override bool AllowPrivateTargets => false;
}

public sealed class PermissiveEventsSetup : EventsSetup;

/// <summary>Helpers shared by the delivery tests: endpoints inserted as events-api stores them, events published in a transaction.</summary>
public abstract class EventDeliveryTestBase(BackstopFactory app) : AppTest(app)
{
    protected EventsSetup Setup => App.SetupAs<EventsSetup>();
    protected EventReceiver Receiver => Setup.Receiver;

    protected static string NewOrganizationId() => "org_" + Guid.NewGuid().ToString("N");
    protected static string NewPath() => "/hooks/" + Guid.NewGuid().ToString("N");

    protected async Task<string> EndpointAsync(string? organizationId, string url, string secret, string? previousSecret = null,
        DateTimeOffset? previousExpiresAt = null, int? rateLimitPerSecond = null)
    {
        var id = "ep_" + Guid.NewGuid().ToString("N");
        var secrets = App.Service<EventSecrets>();
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(
            """
            insert into event_endpoints (id, organization_id, url, enabled, rate_limit_per_second, secret_protected,
                                         previous_secret_protected, previous_secret_expires_at, created_at, updated_at)
            values (@id, @organizationId, @url, @enabled, @rateLimitPerSecond, @secret, @previous, @previousExpiresAt, @now, @now)
            """, new
            {
                id, organizationId, url, enabled = true, rateLimitPerSecond, secret = secrets.Protect(secret),
                previous = previousSecret is null ? null : secrets.Protect(previousSecret), previousExpiresAt, now = App.Time.GetUtcNow(),
            });
        return id;
    }

    protected Task<string> PublishAsync(string? organizationId, string type = EventTypes.MeetingCreated, object? data = null) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IEventPublisher>().PublishAsync(c, t, type, organizationId, data ?? new { id = "m_1", status = "scheduled" }, CancellationToken.None));

    protected Task<int> DispatchAsync() => App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

    protected async Task<(string Status, int Attempts, DateTimeOffset NextAttemptAt, string? LastError)> MessageAsync(string eventId, string endpointId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string, int, DateTimeOffset, string?)>(
            "select status, attempts, next_attempt_at, last_error from outbox_messages where idempotency_key = @key",
            new { key = EventDelivery.IdempotencyKey(eventId, endpointId) });
    }

    protected async Task<T> ScalarAsync<T>(string sql, object? args = null)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<T>(sql, args) ?? default!;
    }

    protected static HeaderDictionary Headers(ReceivedEvent request, string? signature = null) => new()
    {
        ["webhook-id"] = request.Headers["webhook-id"],
        ["webhook-timestamp"] = request.Headers["webhook-timestamp"],
        ["webhook-signature"] = signature ?? request.Headers["webhook-signature"],
    };
}

/// <summary>
/// Signatures checked with the official NuGet <c>StandardWebhooks</c> 1.1.2, which compares the timestamp with the
/// wall clock (5 minutes): the test clock is moved to the wall clock first, and these tests never move it further.
/// </summary>
public abstract class EventSignatureTests(BackstopFactory app) : EventDeliveryTestBase(app)
{
    private void ClockToWallClock()
    {
        if (App.Time.GetUtcNow() < DateTimeOffset.UtcNow) App.Time.SetUtcNow(DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task A_delivery_is_a_signed_POST_that_the_official_Standard_Webhooks_library_verifies()
    {
        ClockToWallClock();
        var secret = EventSecrets.New();
        var organizationId = NewOrganizationId();
        var path = NewPath();
        await EndpointAsync(organizationId, Receiver.Url(path), secret);

        var eventId = await PublishAsync(organizationId, EventTypes.MeetingTranscribed, new { id = "m_42", status = "transcribed" });
        await DispatchAsync();

        var request = Receiver.At(path).ShouldHaveSingleItem();
        request.Method.ShouldBe("POST");
        request.ContentType.ShouldBe("application/json");
        request.Headers["webhook-id"].ShouldBe(eventId);
        request.Headers["webhook-timestamp"].ShouldBe(App.Time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        request.Headers["webhook-signature"].ShouldStartWith("v1,");
        request.Headers["webhook-signature"].ShouldNotContain(" ");

        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        root.GetProperty("id").GetString().ShouldBe(eventId);
        root.GetProperty("type").GetString().ShouldBe(EventTypes.MeetingTranscribed);
        root.GetProperty("organizationId").GetString().ShouldBe(organizationId);
        root.GetProperty("sequence").GetInt64().ShouldBe(1);
        root.GetProperty("version").GetInt32().ShouldBe(1);
        root.GetProperty("timestamp").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow(), TimeSpan.FromSeconds(1));
        root.GetProperty("data").GetProperty("id").GetString().ShouldBe("m_42");

        Should.NotThrow(() => new StandardWebhook(secret).Verify(request.Body, Headers(request)));
        // The check can fail: another secret, or a body changed by one character, is refused.
        Should.Throw<Exception>(() => new StandardWebhook(EventSecrets.New()).Verify(request.Body, Headers(request)));
        Should.Throw<Exception>(() => new StandardWebhook(secret).Verify(request.Body.Replace("m_42", "m_43"), Headers(request)));
    }

    [Fact]
    public async Task During_a_rotation_both_signatures_are_sent_and_each_verifies_with_its_secret()
    {
        ClockToWallClock();
        var organizationId = NewOrganizationId();
        var (current, previous) = (EventSecrets.New(), EventSecrets.New());
        var rotating = NewPath();
        var expired = NewPath();
        await EndpointAsync(organizationId, Receiver.Url(rotating), current, previous, App.Time.GetUtcNow().AddHours(24));
        await EndpointAsync(organizationId, Receiver.Url(expired), current, previous, App.Time.GetUtcNow().AddSeconds(-1));

        await PublishAsync(organizationId);
        await DispatchAsync();

        var request = Receiver.At(rotating).ShouldHaveSingleItem();
        var signatures = request.Headers["webhook-signature"].Split(' ');
        signatures.Length.ShouldBe(2);
        // The NuGet library checks only the first signature of a header: each one is checked alone, with its secret.
        Should.NotThrow(() => new StandardWebhook(current).Verify(request.Body, Headers(request, signatures[0])));
        Should.NotThrow(() => new StandardWebhook(previous).Verify(request.Body, Headers(request, signatures[1])));
        Should.Throw<Exception>(() => new StandardWebhook(current).Verify(request.Body, Headers(request, signatures[1])));
        // A receiver that still has only the old secret verifies the whole header (it holds a signature of its key).
        EventChannel.Sign(previous, request.Headers["webhook-id"], long.Parse(request.Headers["webhook-timestamp"], CultureInfo.InvariantCulture),
            System.Text.Encoding.UTF8.GetBytes(request.Body)).ShouldBe(signatures[1]);

        // Once the old secret has expired, only the new one signs.
        var after = Receiver.At(expired).ShouldHaveSingleItem();
        after.Headers["webhook-signature"].Split(' ').ShouldHaveSingleItem();
        Should.NotThrow(() => new StandardWebhook(current).Verify(after.Body, Headers(after)));
    }
}

public sealed class EventSignatureTestsOnSqlite(SqliteApp<PermissiveEventsSetup> app) : EventSignatureTests(app), IClassFixture<SqliteApp<PermissiveEventsSetup>>;

public sealed class EventSignatureTestsOnPostgres(PostgresApp<PermissiveEventsSetup> app) : EventSignatureTests(app), IClassFixture<PostgresApp<PermissiveEventsSetup>>;

public abstract class EventDeliveryTests(BackstopFactory app) : EventDeliveryTestBase(app)
{
    [Fact]
    public async Task A_500_then_a_200_is_delivered_once_with_both_attempts_in_the_log()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        Receiver.Answer(path, 500, body: "database is down");

        var eventId = await PublishAsync(organizationId);
        await DispatchAsync();

        var first = await MessageAsync(eventId, endpointId);
        first.Status.ShouldBe(OutboxStatus.Pending);
        first.Attempts.ShouldBe(1);
        first.NextAttemptAt.ShouldBe(App.Time.GetUtcNow().AddSeconds(5));
        (await ScalarAsync<DateTimeOffset?>("select failing_since from event_endpoints where id = @endpointId", new { endpointId })).ShouldBe(App.Time.GetUtcNow());

        App.Time.Advance(TimeSpan.FromSeconds(5));
        await DispatchAsync();

        (await MessageAsync(eventId, endpointId)).Status.ShouldBe(OutboxStatus.Sent);
        var requests = Receiver.At(path);
        requests.Count.ShouldBe(2);
        requests.Select(r => r.Headers["webhook-id"]).Distinct().ShouldHaveSingleItem().ShouldBe(eventId);
        // A success clears the endpoint's failing streak.
        (await ScalarAsync<DateTimeOffset?>("select failing_since from event_endpoints where id = @endpointId", new { endpointId })).ShouldBeNull();

        var attempts = await App.Service<EventAttempts>().ListAsync(endpointId, null, null, 10, CancellationToken.None);
        attempts.Items.Count.ShouldBe(2);
        attempts.NextCursor.ShouldBeNull();
        attempts.Items[0].Outcome.ShouldBe(EventAttemptOutcome.Sent);
        attempts.Items[0].ResponseStatus.ShouldBe(200);
        attempts.Items[0].Attempt.ShouldBe(2);
        attempts.Items[1].Outcome.ShouldBe(EventAttemptOutcome.Failed);
        attempts.Items[1].ResponseStatus.ShouldBe(500);
        attempts.Items[1].ResponseBody.ShouldBe("database is down");
        attempts.Items[1].Error.ShouldBe("HTTP 500");
        attempts.Items[1].Attempt.ShouldBe(1);
        attempts.Items.ShouldAllBe(a => a.EventId == eventId && a.EndpointId == endpointId);

        // By event, one page at a time.
        var page = await App.Service<EventAttempts>().ListAsync(null, eventId, null, 1, CancellationToken.None);
        page.Items.ShouldHaveSingleItem().Id.ShouldBe(attempts.Items[0].Id);
        var next = await App.Service<EventAttempts>().ListAsync(null, eventId, page.NextCursor, 1, CancellationToken.None);
        next.Items.ShouldHaveSingleItem().Id.ShouldBe(attempts.Items[1].Id);
        next.NextCursor.ShouldBeNull();
    }

    [Fact]
    public async Task The_log_keeps_only_the_first_4_KiB_of_an_answer()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        Receiver.Answer(path, 400, body: new string('x', 10_000));
        await PublishAsync(organizationId);
        await DispatchAsync();

        var attempt = (await App.Service<EventAttempts>().ListAsync(endpointId, null, null, 10, CancellationToken.None)).Items.ShouldHaveSingleItem();
        attempt.ResponseBody!.Length.ShouldBe(EventChannel.MaxResponseBodyBytes);
    }

    [Fact]
    public async Task A_429_with_Retry_After_30_is_not_tried_again_before_30_seconds()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        Receiver.Answer(path, 429, retryAfter: TimeSpan.FromSeconds(30));

        var eventId = await PublishAsync(organizationId);
        await DispatchAsync();
        (await MessageAsync(eventId, endpointId)).NextAttemptAt.ShouldBe(App.Time.GetUtcNow().AddSeconds(30));

        App.Time.Advance(TimeSpan.FromSeconds(29));
        await DispatchAsync();
        Receiver.At(path).Count.ShouldBe(1);

        App.Time.Advance(TimeSpan.FromSeconds(1));
        await DispatchAsync();
        Receiver.At(path).Count.ShouldBe(2);
        (await MessageAsync(eventId, endpointId)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task A_redirect_is_not_followed_and_counts_as_a_failure()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var target = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        Receiver.Answer(path, 307, location: Receiver.Url(target));

        var eventId = await PublishAsync(organizationId);
        await DispatchAsync();

        Receiver.At(target).ShouldBeEmpty();
        var message = await MessageAsync(eventId, endpointId);
        message.Status.ShouldBe(OutboxStatus.Pending);
        message.LastError.ShouldBe("HTTP 307");
    }

    [Fact]
    public async Task Failures_are_retried_on_Svix_schedule_exactly_then_the_message_is_dead()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        for (var i = 0; i < 8; i++) Receiver.Answer(path, 503);

        var eventId = await PublishAsync(organizationId);
        TimeSpan[] expected = [TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10)];
        foreach (var delay in expected)
        {
            await DispatchAsync();
            var message = await MessageAsync(eventId, endpointId);
            message.Status.ShouldBe(OutboxStatus.Pending);
            (message.NextAttemptAt - App.Time.GetUtcNow()).ShouldBe(delay);
            // Not a moment earlier.
            App.Time.Advance(delay - TimeSpan.FromSeconds(1));
            var before = Receiver.At(path).Count;
            await DispatchAsync();
            Receiver.At(path).Count.ShouldBe(before);
            App.Time.Advance(TimeSpan.FromSeconds(1));
        }
        await DispatchAsync();

        var last = await MessageAsync(eventId, endpointId);
        last.Status.ShouldBe(OutboxStatus.Dead);
        last.Attempts.ShouldBe(8);
        Receiver.At(path).Count.ShouldBe(8);
        (await App.Service<EventAttempts>().ListAsync(endpointId, null, null, 100, CancellationToken.None)).Items.Select(a => a.Attempt)
            .ShouldBe([8, 7, 6, 5, 4, 3, 2, 1]);
    }

    [Fact]
    public async Task Five_days_of_failures_disable_the_endpoint_with_an_event_an_owner_email_and_an_audit_row()
    {
        var organization = await App.CreateOrganizationAsync();
        var owner = $"owner-{Guid.NewGuid():N}@example.com";
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organization.Id}/members", new { email = owner, role = "owner" }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        var path = NewPath();
        var secret = EventSecrets.New();
        var endpointId = await EndpointAsync(organization.Id, Receiver.Url(path), secret);
        for (var i = 0; i < 100; i++) Receiver.Answer(path, 500);
        var started = App.Time.GetUtcNow();

        // A new event every 12 hours, all failing; retries of the earlier ones come due on the way.
        while (App.Time.GetUtcNow() - started < TimeSpan.FromDays(5) - TimeSpan.FromHours(12))
        {
            await PublishAsync(organization.Id);
            await DispatchAsync();
            (await ScalarAsync<bool>("select enabled from event_endpoints where id = @endpointId", new { endpointId })).ShouldBeTrue();
            App.Time.Advance(TimeSpan.FromHours(12));
        }
        App.Time.Advance(TimeSpan.FromHours(12) - TimeSpan.FromSeconds(1));
        await PublishAsync(organization.Id);
        await DispatchAsync();
        (await ScalarAsync<bool>("select enabled from event_endpoints where id = @endpointId", new { endpointId })).ShouldBeTrue("4 days 23:59:59 of failures");

        App.Time.Advance(TimeSpan.FromSeconds(1));
        await PublishAsync(organization.Id);
        await DispatchAsync();

        await using var connection = await App.OpenAsync();
        var endpoint = await connection.QuerySingleAsync<(bool Enabled, DateTimeOffset? DisabledAt, string? DisabledReason)>(
            "select enabled, disabled_at, disabled_reason from event_endpoints where id = @endpointId", new { endpointId });
        endpoint.Enabled.ShouldBeFalse();
        endpoint.DisabledAt.ShouldBe(App.Time.GetUtcNow());
        endpoint.DisabledReason.ShouldNotBeNull().ShouldContain("failed continuously");

        var disabledEvents = (await connection.QueryAsync<(string? OrganizationId, string Data)>(
            "select organization_id, data from events where type = @type and data like @like", new { type = EventTypes.EndpointDisabled, like = $"%{endpointId}%" })).ToList();
        var disabled = disabledEvents.ShouldHaveSingleItem();
        disabled.OrganizationId.ShouldBeNull();
        using (var data = JsonDocument.Parse(disabled.Data))
        {
            data.RootElement.GetProperty("id").GetString().ShouldBe(endpointId);
            data.RootElement.GetProperty("url").GetString().ShouldBe(Receiver.Url(path));
            data.RootElement.GetProperty("organizationId").GetString().ShouldBe(organization.Id);
            data.RootElement.GetProperty("reason").GetString().ShouldBe(endpoint.DisabledReason);
        }
        disabled.Data.ShouldNotContain(secret[EventSecrets.Prefix.Length..]);

        (await connection.ExecuteScalarAsync<long>(
            "select count(*) from audit_log where action = 'event_endpoint.disable' and target_id = @endpointId and organization_id = @org",
            new { endpointId, org = organization.Id })).ShouldBe(1);

        // The email goes out through the outbox, to the owner.
        await DispatchAsync();
        var mail = Setup.Smtp.Received.Where(m => m.To.Contains(owner)).ShouldHaveSingleItem();
        mail.Message.Subject.ShouldBe("Event endpoint disabled");

        // Pending deliveries to the disabled endpoint are dropped, not sent.
        var before = Receiver.At(path).Count;
        App.Time.Advance(TimeSpan.FromHours(11));
        await DispatchAsync();
        Receiver.At(path).Count.ShouldBe(before);
    }

    [Fact]
    public async Task Of_25_concurrent_failures_past_the_limit_exactly_one_disables_the_endpoint()
    {
        var organizationId = NewOrganizationId();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(NewPath()), EventSecrets.New());
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update event_endpoints set failing_since = @since where id = @endpointId",
                new { endpointId, since = App.Time.GetUtcNow().AddDays(-6) });
        var eventId = await PublishAsync(organizationId);
        var health = App.Service<EventEndpointHealth>();

        await Task.WhenAll(Enumerable.Range(0, 25).Select(i => Task.Run(() => health.RecordAsync(
            new EventDeliveryAttempt(Guid.CreateVersion7().ToString(), eventId, endpointId, "m" + i, 1, App.Time.GetUtcNow(), 5, 500, null, "HTTP 500", EventAttemptOutcome.Failed),
            endpointId, CancellationToken.None))));

        (await ScalarAsync<long>("select count(*) from events where type = @type and data like @like",
            new { type = EventTypes.EndpointDisabled, like = $"%{endpointId}%" })).ShouldBe(1);
        (await ScalarAsync<long>("select count(*) from audit_log where action = 'event_endpoint.disable' and target_id = @endpointId", new { endpointId })).ShouldBe(1);
        (await ScalarAsync<long>("select count(*) from event_delivery_attempts where endpoint_id = @endpointId", new { endpointId })).ShouldBe(25);
    }

    [Fact]
    public async Task An_endpoint_that_hangs_does_not_delay_deliveries_to_another_and_its_excess_stays_unclaimed()
    {
        await DispatchAsync(); // nothing else due: the next claim takes exactly this test's messages
        var slow = NewPath();
        var fast = NewPath();
        var slowOrganization = NewOrganizationId();
        var slowId = await EndpointAsync(slowOrganization, Receiver.Url(slow), EventSecrets.New());
        var fastOrganization = NewOrganizationId();
        await EndpointAsync(fastOrganization, Receiver.Url(fast), EventSecrets.New());
        var hung = new[] { Receiver.Hang(slow), Receiver.Hang(slow) };
        // Events:MaxInFlightPerEndpoint is 2 here: two events hang, the slow endpoint's third is not claimed meanwhile.
        var events = new[]
        {
            await PublishAsync(slowOrganization, EventTypes.ApiKeyCreated),
            await PublishAsync(slowOrganization, EventTypes.ApiKeyRevoked),
            await PublishAsync(slowOrganization, EventTypes.ApiKeyRotated),
        };
        await PublishAsync(fastOrganization, EventTypes.ApiKeyCreated);
        // One claim of up to 4 (Outbox:Parallelism), fair across endpoints: slow 1, fast 1, slow 2; slow 3 is over the limit.

        var dispatching = Task.Run(DispatchAsync);
        // Bounded waits (generous, real time): a delivery that never comes fails this test by name instead of hanging the run.
        await Receiver.WaitForAsync(slow, 2).WaitAsync(TimeSpan.FromMinutes(2));
        await Receiver.WaitForAsync(fast, 1).WaitAsync(TimeSpan.FromMinutes(2));
        // The fast endpoint got its event while two deliveries to the slow one hang (no time has passed).
        hung.ShouldAllBe(h => !h.Task.IsCompleted);
        dispatching.IsCompleted.ShouldBeFalse();

        // While the two hang, the third stays pending and unattempted: no claim takes it (however often the window polls),
        // so it never holds a dispatcher slot only to be deferred.
        var keys = events.Select(e => EventDelivery.IdempotencyKey(e, slowId)).ToArray();
        var states = new List<(string Status, int Attempts, DateTimeOffset NextAttemptAt, string? LastError)>();
        foreach (var e in events) states.Add(await MessageAsync(e, slowId));
        states.Count(s => s.Status == OutboxStatus.Sending).ShouldBe(2);
        var third = states.FindIndex(s => s.Status == OutboxStatus.Pending);
        third.ShouldBeGreaterThanOrEqualTo(0);
        states[third].Attempts.ShouldBe(0);
        (await ScalarAsync<long>("select count(*) from outbox_attempts a join outbox_messages m on m.id = a.message_id where m.idempotency_key = @key",
            new { key = keys[third] })).ShouldBe(0);

        // The slow endpoint's timeout (Events:TimeoutSeconds, 15 s) passes on the test clock: the freed slots claim the third.
        App.Time.Advance(TimeSpan.FromSeconds(15));
        await dispatching.WaitAsync(TimeSpan.FromMinutes(2));

        var slowStates = new List<(string Status, int Attempts, DateTimeOffset NextAttemptAt, string? LastError)>();
        foreach (var e in events) slowStates.Add(await MessageAsync(e, slowId));
        slowStates.Count(s => s.Status == OutboxStatus.Pending && s.Attempts == 1 && s.LastError == "No answer within 15 s.").ShouldBe(2);
        slowStates[third].Status.ShouldBe(OutboxStatus.Sent);
        slowStates[third].Attempts.ShouldBe(1);
        await using var connection = await App.OpenAsync();
        // Sent on its first attempt, with no deferral before it.
        (await connection.QueryAsync<string>(
            "select a.outcome from outbox_attempts a join outbox_messages m on m.id = a.message_id where m.idempotency_key = @key",
            new { key = keys[third] })).ShouldBe(["sent"]);
        (await connection.QueryAsync<string>(
            "select a.outcome from outbox_attempts a join outbox_messages m on m.id = a.message_id where m.idempotency_key in (@k1, @k2, @k3) and a.outcome = 'deferred'",
            new { k1 = keys[0], k2 = keys[1], k3 = keys[2] })).ShouldBeEmpty();
        (await connection.QueryAsync<string>("select outcome from event_delivery_attempts where endpoint_id = @slowId order by outcome", new { slowId }))
            .ShouldBe([EventAttemptOutcome.Failed, EventAttemptOutcome.Failed, EventAttemptOutcome.Sent]);
        Receiver.At(slow).Count.ShouldBe(3);
    }

    [Fact]
    public async Task A_message_that_comes_due_while_another_endpoint_hangs_is_delivered_before_the_hang_ends()
    {
        await DispatchAsync();
        var slow = NewPath();
        var fast = NewPath();
        var slowOrganization = NewOrganizationId();
        var fastOrganization = NewOrganizationId();
        await EndpointAsync(slowOrganization, Receiver.Url(slow), EventSecrets.New());
        var fastId = await EndpointAsync(fastOrganization, Receiver.Url(fast), EventSecrets.New());
        var hung = Receiver.Hang(slow);
        await PublishAsync(slowOrganization);

        var dispatching = Task.Run(DispatchAsync);
        await Receiver.WaitForAsync(slow).WaitAsync(TimeSpan.FromMinutes(2));
        // Enqueued after the slow delivery was claimed and while it hangs: a free slot of the same dispatch claims it.
        var later = await PublishAsync(fastOrganization);
        await Receiver.WaitForAsync(fast).WaitAsync(TimeSpan.FromSeconds(30));
        hung.Task.IsCompleted.ShouldBeFalse();
        dispatching.IsCompleted.ShouldBeFalse();

        // The slow consumer answers at last (moving the clock instead could time out the fast answer still in flight).
        hung.SetResult();
        await dispatching.WaitAsync(TimeSpan.FromMinutes(2));
        (await MessageAsync(later, fastId)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task Deliveries_hung_past_a_second_leave_the_window_so_a_full_window_of_them_never_holds_another_endpoint_s_event()
    {
        await DispatchAsync();
        var (slowA, slowB, fast) = (NewPath(), NewPath(), NewPath());
        var (organizationA, organizationB, fastOrganization) = (NewOrganizationId(), NewOrganizationId(), NewOrganizationId());
        await EndpointAsync(organizationA, Receiver.Url(slowA), EventSecrets.New());
        await EndpointAsync(organizationB, Receiver.Url(slowB), EventSecrets.New());
        var fastId = await EndpointAsync(fastOrganization, Receiver.Url(fast), EventSecrets.New());
        // Two endpoints that hang, two deliveries each (Events:MaxInFlightPerEndpoint 2): the window (Outbox:Parallelism 4) is full.
        var hung = new[] { Receiver.Hang(slowA), Receiver.Hang(slowA), Receiver.Hang(slowB), Receiver.Hang(slowB) };
        for (var i = 0; i < 2; i++)
        {
            await PublishAsync(organizationA);
            await PublishAsync(organizationB);
        }

        var dispatching = Task.Run(DispatchAsync);
        await Receiver.WaitForAsync(slowA, 2).WaitAsync(TimeSpan.FromMinutes(2));
        await Receiver.WaitForAsync(slowB, 2).WaitAsync(TimeSpan.FromMinutes(2));
        var later = await PublishAsync(fastOrganization);
        // The window stays full while no time passes; a second later (far below the 15 s timeout) the four hung
        // deliveries have moved to the slow slots and the window claims and delivers the other endpoint's event.
        (await MessageAsync(later, fastId)).Status.ShouldBe(OutboxStatus.Pending);
        Receiver.At(fast).Count.ShouldBe(0);
        App.Time.Advance(OutboxDispatcher.SlowAfter);
        await Receiver.WaitForAsync(fast).WaitAsync(TimeSpan.FromMinutes(2));
        hung.ShouldAllBe(h => !h.Task.IsCompleted);
        dispatching.IsCompleted.ShouldBeFalse();

        foreach (var h in hung) h.SetResult();
        await dispatching.WaitAsync(TimeSpan.FromMinutes(2));
        (await MessageAsync(later, fastId)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task An_endpoint_over_its_rate_limit_is_deferred_until_the_next_second()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New(), rateLimitPerSecond: 1);
        var first = await PublishAsync(organizationId);
        var second = await PublishAsync(organizationId);
        await DispatchAsync();

        Receiver.At(path).Count.ShouldBe(1);
        var states = new[] { await MessageAsync(first, endpointId), await MessageAsync(second, endpointId) };
        states.Count(s => s.Status == OutboxStatus.Sent).ShouldBe(1);
        var waiting = states.Single(s => s.Status == OutboxStatus.Pending);
        waiting.Attempts.ShouldBe(0);
        waiting.NextAttemptAt.ShouldBe(App.Time.GetUtcNow().AddSeconds(1));

        App.Time.Advance(TimeSpan.FromSeconds(1));
        await DispatchAsync();
        Receiver.At(path).Count.ShouldBe(2);
        (await MessageAsync(second, endpointId)).Status.ShouldBe(OutboxStatus.Sent);
        (await MessageAsync(first, endpointId)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task With_private_targets_allowed_a_host_resolving_to_loopback_is_delivered()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        Setup.Resolver.Answer("local.example.test", [IPAddress.Loopback]);
        var endpointId = await EndpointAsync(organizationId, Receiver.Url("local.example.test", path), EventSecrets.New());
        var eventId = await PublishAsync(organizationId);
        await DispatchAsync();
        Receiver.At(path).ShouldHaveSingleItem();
        (await MessageAsync(eventId, endpointId)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task A_deleted_endpoint_is_skipped_for_good()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        var eventId = await PublishAsync(organizationId);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update event_endpoints set deleted_at = @now where id = @endpointId", new { endpointId, now = App.Time.GetUtcNow() });
        await DispatchAsync();
        Receiver.At(path).ShouldBeEmpty();
        var message = await MessageAsync(eventId, endpointId);
        message.Status.ShouldBe(OutboxStatus.Dead);
        message.LastError.ShouldBe("endpoint deleted");
    }

    [Fact]
    public async Task The_sweep_prunes_attempts_past_retention()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        await PublishAsync(organizationId);
        await DispatchAsync();
        App.Time.Advance(TimeSpan.FromDays(30) + TimeSpan.FromSeconds(1));
        await PublishAsync(organizationId);
        await DispatchAsync();
        (await ScalarAsync<long>("select count(*) from event_delivery_attempts where endpoint_id = @endpointId", new { endpointId })).ShouldBe(2);

        using (var scope = App.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<EventDeliverySweepJob>().RunAsync(CancellationToken.None);

        (await ScalarAsync<long>("select count(*) from event_delivery_attempts where endpoint_id = @endpointId", new { endpointId })).ShouldBe(1);
    }
}

public sealed class EventDeliveryTestsOnSqlite(SqliteApp<PermissiveEventsSetup> app) : EventDeliveryTests(app), IClassFixture<SqliteApp<PermissiveEventsSetup>>;

public sealed class EventDeliveryTestsOnPostgres(PostgresApp<PermissiveEventsSetup> app) : EventDeliveryTests(app), IClassFixture<PostgresApp<PermissiveEventsSetup>>;

/// <summary>The production rule, <c>Events:AllowPrivateTargets=false</c>: a private address is refused at connection.</summary>
public abstract class EventTargetTests(BackstopFactory app) : EventDeliveryTestBase(app)
{
    [Fact]
    public async Task A_host_that_rebinds_to_loopback_after_registration_is_refused_at_connection_before_any_request()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        const string host = "rebind.example.test";
        Setup.Resolver.Answer(host, [IPAddress.Parse("93.184.216.34")], [IPAddress.Loopback]);

        // Registration's check (events-api): the host resolves to a public address.
        var atRegistration = await Setup.Resolver.ResolveAsync(host, CancellationToken.None);
        atRegistration.ShouldAllBe(a => !TargetAddressPolicy.IsForbidden(a));
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(host, path), EventSecrets.New());

        // At connection it answers 127.0.0.1, where the receiver listens.
        var eventId = await PublishAsync(organizationId);
        await DispatchAsync();

        Receiver.At(path).ShouldBeEmpty();
        var message = await MessageAsync(eventId, endpointId);
        message.Status.ShouldBe(OutboxStatus.Pending);
        message.LastError.ShouldNotBeNull().ShouldContain("may not connect to");
        var attempt = (await App.Service<EventAttempts>().ListAsync(endpointId, null, null, 10, CancellationToken.None)).Items.ShouldHaveSingleItem();
        attempt.Outcome.ShouldBe(EventAttemptOutcome.Refused);
        attempt.ResponseStatus.ShouldBeNull();
        // A refusal is a failure of the endpoint's.
        (await ScalarAsync<DateTimeOffset?>("select failing_since from event_endpoints where id = @endpointId", new { endpointId })).ShouldNotBeNull();
    }

    [Fact]
    public async Task A_literal_private_address_is_refused_too()
    {
        var organizationId = NewOrganizationId();
        var path = NewPath();
        var endpointId = await EndpointAsync(organizationId, Receiver.Url(path), EventSecrets.New());
        var eventId = await PublishAsync(organizationId);
        await DispatchAsync();
        Receiver.At(path).ShouldBeEmpty();
        (await MessageAsync(eventId, endpointId)).LastError.ShouldNotBeNull().ShouldContain("may not connect to");
    }
}

public sealed class EventTargetTestsOnSqlite(SqliteApp<StrictEventsSetup> app) : EventTargetTests(app), IClassFixture<SqliteApp<StrictEventsSetup>>;

public sealed class EventTargetTestsOnPostgres(PostgresApp<StrictEventsSetup> app) : EventTargetTests(app), IClassFixture<PostgresApp<StrictEventsSetup>>;

public sealed class TargetAddressPolicyTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.10.0.1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.31.255.255", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("192.168.1.1", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("169.254.1.1", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("100.127.255.255", true)]
    [InlineData("100.128.0.1", false)]
    [InlineData("0.0.0.0", true)]
    [InlineData("224.0.0.1", true)]
    [InlineData("255.255.255.255", true)]
    [InlineData("93.184.216.34", false)]
    [InlineData("8.8.8.8", false)]
    [InlineData("::1", true)]
    [InlineData("::", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fc00::1", true)]
    [InlineData("fd12:3456::1", true)]
    [InlineData("fd00:ec2::254", true)]
    [InlineData("ff02::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("::ffff:169.254.169.254", true)]
    [InlineData("::ffff:8.8.8.8", false)]
    [InlineData("64:ff9b::a00:1", true)]
    [InlineData("2606:2800:220:1:248:1893:25c8:1946", false)]
    public void Forbidden_addresses(string address, bool forbidden) =>
        TargetAddressPolicy.IsForbidden(IPAddress.Parse(address)).ShouldBe(forbidden);
}

public sealed class EventSecretsTests
{
    [Fact]
    public void A_new_secret_is_whsec_and_32_random_bytes_and_its_key_is_the_decoded_part()
    {
        var secret = EventSecrets.New();
        secret.ShouldStartWith("whsec_");
        EventSecrets.Key(secret).Length.ShouldBe(32);
        EventSecrets.New().ShouldNotBe(secret);
    }

    [Fact]
    public void Signing_matches_the_official_Svix_test_vector()
    {
        // PROVIDERS.md: Svix's own test vector.
        EventChannel.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, System.Text.Encoding.UTF8.GetBytes("""{"test": 2432232314}"""))
            .ShouldBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
