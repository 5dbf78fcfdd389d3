using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Outbox.Sms;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

public abstract class OutboxTests(BackstopFactory app) : AppTest(app)
{
    private MessagingSetup Servers => App.SetupAs<MessagingSetup>();

    private static string NewNumber() => Backstop.Tests.Features.Messaging.MessagingKit.NewNumber();

    private Task<EnqueueResult> EnqueueAsync(OutboxEnvelope message) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t, message, CancellationToken.None));

    private Task<int> DispatchAsync() => App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

    private async Task<OutboxMessage> RowAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<OutboxMessage>("select * from outbox_messages where id = @id", new { id });
    }

    private async Task<List<string>> AttemptOutcomesAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return (await connection.QueryAsync<string>("select outcome from outbox_attempts where message_id = @id order by attempt", new { id })).ToList();
    }

    private IEnumerable<TwilioRequest> RequestsTo(string number) => Servers.Twilio.Requests.Where(r => r.Form.GetValueOrDefault("To") == number);

    [Fact]
    public async Task An_email_is_delivered_once_over_smtp_and_enqueuing_it_twice_stores_it_once()
    {
        var to = $"user-{Guid.NewGuid():N}@example.com";
        var key = "test:" + Guid.NewGuid();
        var message = OutboxEmail.Create(key, to, new EmailContent("Hello", "Plain text body", "<p>HTML body</p>"));

        var first = await EnqueueAsync(message);
        var second = await EnqueueAsync(message);
        first.Created.ShouldBeTrue();
        second.Created.ShouldBeFalse();
        second.Id.ShouldBe(first.Id);

        (await DispatchAsync()).ShouldBeGreaterThanOrEqualTo(1);
        await DispatchAsync();

        var received = Servers.Smtp.Received.Where(m => m.To.Contains(to)).ToList();
        received.Count.ShouldBe(1);
        received[0].From.ShouldBe("no-reply@backstop.test");
        received[0].Message.Subject.ShouldBe("Hello");
        received[0].Message.TextBody.ShouldNotBeNull().ShouldContain("Plain text body");
        received[0].Message.HtmlBody.ShouldNotBeNull().ShouldContain("<p>HTML body</p>");
        received[0].Message.MessageId.ShouldBe($"{first.Id}@backstop");

        var row = await RowAsync(first.Id);
        row.Status.ShouldBe(OutboxStatus.Sent);
        row.Attempts.ShouldBe(1);
        row.SentAt.ShouldBe(App.Time.GetUtcNow());
    }

    [Fact]
    public async Task An_smtp_4xx_is_retried_and_a_5xx_is_dead()
    {
        var to = $"user-{Guid.NewGuid():N}@example.com";
        Servers.Smtp.RejectNextData(to, "451 4.3.0 Try again later");
        var retried = await EnqueueAsync(OutboxEmail.Create("test:" + Guid.NewGuid(), to, new EmailContent("S", "T", "<p>T</p>")));
        await DispatchAsync();
        (await RowAsync(retried.Id)).Status.ShouldBe(OutboxStatus.Pending);
        App.Time.Advance(TimeSpan.FromSeconds(7)); // base 5 s + at most 20 % jitter
        await DispatchAsync();
        (await RowAsync(retried.Id)).Status.ShouldBe(OutboxStatus.Sent);
        (await AttemptOutcomesAsync(retried.Id)).ShouldBe(["retry", "sent"]);

        var to2 = $"user-{Guid.NewGuid():N}@example.com";
        Servers.Smtp.RejectNextData(to2, "550 5.1.1 No such user");
        var dead = await EnqueueAsync(OutboxEmail.Create("test:" + Guid.NewGuid(), to2, new EmailContent("S", "T", "<p>T</p>")));
        await DispatchAsync();
        var row = await RowAsync(dead.Id);
        row.Status.ShouldBe(OutboxStatus.Dead);
        row.LastError.ShouldNotBeNull().ShouldContain("550");
        Servers.Smtp.Received.Count(m => m.To.Contains(to2)).ShouldBe(0);
    }

    [Fact]
    public async Task An_sms_is_delivered_once_with_basic_auth_and_a_status_callback()
    {
        var to = NewNumber();
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "Your order shipped"));

        await DispatchAsync();
        await DispatchAsync();

        var requests = RequestsTo(to).ToList();
        requests.Count.ShouldBe(1);
        requests[0].Form["From"].ShouldBe(TwilioTestServer.From);
        requests[0].Form["Body"].ShouldBe("Your order shipped");
        requests[0].Form["StatusCallback"].ShouldBe("https://backstop.example.com/webhooks/twilio/status");
        requests[0].Status.ShouldBe(201);
        var row = await RowAsync(sent.Id);
        row.Status.ShouldBe(OutboxStatus.Sent);
        row.ProviderId.ShouldBe(requests[0].Sid);
    }

    [Fact]
    public async Task A_503_twice_then_success_sends_one_message_after_two_recorded_retries_at_1_and_2_seconds()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 503, message: "Service Unavailable", times: 2);
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "hello"));
        var start = App.Time.GetUtcNow();

        await DispatchAsync();
        var afterFirst = await RowAsync(sent.Id);
        afterFirst.Status.ShouldBe(OutboxStatus.Pending);
        (afterFirst.NextAttemptAt - start).ShouldBeInRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1.2));

        await DispatchAsync(); // not due yet
        RequestsTo(to).Count().ShouldBe(1);

        App.Time.Advance(TimeSpan.FromSeconds(1.25));
        await DispatchAsync();
        var afterSecond = await RowAsync(sent.Id);
        (afterSecond.NextAttemptAt - App.Time.GetUtcNow()).ShouldBeInRange(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2.4));

        App.Time.Advance(TimeSpan.FromSeconds(2.5));
        await DispatchAsync();

        RequestsTo(to).Select(r => r.Status).ShouldBe([503, 503, 201]);
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == to).ShouldBe(1);
        (await AttemptOutcomesAsync(sent.Id)).ShouldBe(["retry", "retry", "sent"]);
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task Transient_failures_stop_after_three_retries_and_the_message_is_dead()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 500, times: 4);
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "hello"));
        for (var i = 0; i < 6; i++)
        {
            await DispatchAsync();
            App.Time.Advance(TimeSpan.FromSeconds(10));
        }
        RequestsTo(to).Count().ShouldBe(4);
        (await AttemptOutcomesAsync(sent.Id)).ShouldBe(["retry", "retry", "retry", "attempts_exhausted"]);
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Dead);
    }

    [Fact]
    public async Task A_twilio_2xx_without_a_sid_counts_as_sent_and_is_not_sent_again()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 200); // accepted, but the answer carries no sid
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "hello"));

        await DispatchAsync();
        App.Time.Advance(TimeSpan.FromMinutes(5));
        await DispatchAsync();

        RequestsTo(to).Count().ShouldBe(1);
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task A_permanent_twilio_error_is_dead_after_one_try()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 400, code: 21610, message: "Attempt to send to unsubscribed recipient");
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "hello"));

        await DispatchAsync();
        App.Time.Advance(TimeSpan.FromMinutes(5));
        await DispatchAsync();

        RequestsTo(to).Count().ShouldBe(1);
        var row = await RowAsync(sent.Id);
        row.Status.ShouldBe(OutboxStatus.Dead);
        row.Attempts.ShouldBe(1);
        row.LastError.ShouldNotBeNull().ShouldContain("21610");
        (await AttemptOutcomesAsync(sent.Id)).ShouldBe(["permanent_failure"]);
    }

    [Fact]
    public async Task A_429_waits_for_its_retry_after()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 429, code: 20429, message: "Too Many Requests", retryAfterSeconds: 30);
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "hello"));
        var start = App.Time.GetUtcNow();

        await DispatchAsync();
        (await RowAsync(sent.Id)).NextAttemptAt.ShouldBe(start.AddSeconds(30));

        App.Time.Advance(TimeSpan.FromSeconds(10)); // past the 1 s backoff, not past Retry-After
        await DispatchAsync();
        RequestsTo(to).Count().ShouldBe(1);

        App.Time.Advance(TimeSpan.FromSeconds(20));
        await DispatchAsync();
        RequestsTo(to).Select(r => r.Status).ShouldBe([429, 201]);
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Sent);
    }

    [Fact]
    public async Task Two_app_instances_dispatching_at_once_deliver_each_message_once()
    {
        await using var sibling = new SiblingFactory(App);
        var numbers = Enumerable.Range(0, 60).Select(_ => NewNumber()).Distinct().ToList();
        foreach (var number in numbers)
            await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), number, "race"));

        var dispatchers = new[] { App.Service<OutboxDispatcher>(), sibling.Services.GetService(typeof(OutboxDispatcher)) as OutboxDispatcher };
        var runs = Enumerable.Range(0, 10)
            .Select(i => Task.Run(() => dispatchers[i % 2]!.DispatchDueAsync(CancellationToken.None)))
            .ToList();
        var attempted = await Task.WhenAll(runs);

        attempted.Sum().ShouldBeGreaterThanOrEqualTo(numbers.Count);
        foreach (var number in numbers)
            Servers.Twilio.Accepted.Count(r => r.Form["To"] == number).ShouldBe(1, number);
    }

    [Fact]
    public async Task A_message_enqueued_before_a_crash_is_delivered_by_the_next_instance()
    {
        var to = NewNumber();
        var crashedWhileSending = NewNumber();
        await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "after restart"));
        // An instance that claimed a message and died before recording the result.
        var claimed = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), crashedWhileSending, "claimed then crashed"));
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync(
                "update outbox_messages set status = 'sending', attempts = 1, lease_holder = 'dead-instance', lease_until = @until where id = @id",
                new { id = claimed.Id, until = App.Time.GetUtcNow().AddSeconds(120) });

        await using var restarted = new SiblingFactory(App);
        var dispatcher = (OutboxDispatcher)restarted.Services.GetService(typeof(OutboxDispatcher))!;
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == to).ShouldBe(1);
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == crashedWhileSending).ShouldBe(0); // its lease still holds

        App.Time.Advance(TimeSpan.FromSeconds(121));
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == crashedWhileSending).ShouldBe(1);
        (await RowAsync(claimed.Id)).Attempts.ShouldBe(2);
    }

    [Fact]
    public async Task The_background_dispatcher_delivers_within_seconds_of_commit()
    {
        await using var live = new SiblingFactory(App, new Dictionary<string, string?> { ["Outbox:DispatcherEnabled"] = "true", ["Outbox:PollIntervalMilliseconds"] = "200" });
        _ = live.CreateClient(); // starts the host and its dispatch loop
        var to = NewNumber();
        var services = live.Services;
        await ((Db)services.GetService(typeof(Db))!).InTransactionAsync((c, t) =>
            ((IOutbox)services.GetService(typeof(IOutbox))!).EnqueueAsync(c, t, OutboxSms.Create("test:" + Guid.NewGuid(), to, "prompt"), CancellationToken.None));

        // A generous real-time bound on a background loop (a loaded machine can hold it back for seconds); it
        // normally delivers within the 200 ms poll, woken at once by the commit.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !Servers.Twilio.Accepted.Any(r => r.Form["To"] == to))
            await Task.Delay(50);
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == to).ShouldBe(1);
    }

    [Fact]
    public async Task Without_smtp_email_is_written_as_an_eml_file()
    {
        var folder = Path.Combine(Path.GetTempPath(), "backstop-mail-" + Guid.NewGuid().ToString("N"));
        await using var noSmtp = new SiblingFactory(App, new Dictionary<string, string?> { ["Email:Smtp:Host"] = "", ["Email:PickupFolder"] = folder });
        var services = noSmtp.Services;
        var to = $"user-{Guid.NewGuid():N}@example.com";
        var sent = await ((Db)services.GetService(typeof(Db))!).InTransactionAsync((c, t) =>
            ((IOutbox)services.GetService(typeof(IOutbox))!).EnqueueAsync(c, t,
                OutboxEmail.Create("test:" + Guid.NewGuid(), to, new EmailContent("Saved", "Text", "<b>Html</b>")), CancellationToken.None));
        await ((OutboxDispatcher)services.GetService(typeof(OutboxDispatcher))!).DispatchDueAsync(CancellationToken.None);

        var files = Directory.GetFiles(folder, "*.eml");
        files.Length.ShouldBe(1);
        files[0].ShouldEndWith(sent.Id + ".eml");
        var message = await MimeKit.MimeMessage.LoadAsync(files[0]);
        message.To.ToString().ShouldContain(to);
        message.Subject.ShouldBe("Saved");
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task A_retried_message_continues_its_attempt_numbers()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 503, times: 4);
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "again"));
        for (var i = 0; i < 4; i++)
        {
            await DispatchAsync();
            App.Time.Advance(TimeSpan.FromMinutes(10));
        }
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Dead);

        var retried = await (await App.AdminClient().PostAsync($"/v1/admin/outbox/{sent.Id}/retry", null)).JsonAsync();
        retried.GetProperty("attempts").GetInt32().ShouldBe(4);
        retried.GetProperty("maxAttempts").GetInt32().ShouldBe(8);
        await DispatchAsync();

        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Sent);
        var detail = await (await App.AdminClient().GetAsync($"/v1/admin/outbox/{sent.Id}")).JsonAsync();
        detail.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("attempt").GetInt32()).ShouldBe([1, 2, 3, 4, 5]);
    }

    [Fact]
    public async Task The_pending_gauge_has_a_series_per_channel_even_when_nothing_is_pending()
    {
        using (var scope = App.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<OutboxSweepJob>().RunAsync(CancellationToken.None);
        var metrics = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        metrics.ShouldContain("backstop_outbox_pending{channel=\"email\"}");
        metrics.ShouldContain("backstop_outbox_pending{channel=\"sms\"}");
    }

    [Fact]
    public async Task The_outbox_list_refuses_unknown_channels_and_cursors_and_normalises_case()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 400, code: 21211, message: "Invalid 'To' Phone Number");
        var dead = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "x"));
        await DispatchAsync();

        var admin = App.AdminClient();
        var list = await (await admin.GetAsync("/v1/admin/outbox?channel=SMS&status=DEAD&limit=100")).JsonAsync();
        list.GetProperty("items").EnumerateArray().ShouldContain(i => i.GetProperty("id").GetString() == dead.Id);
        var problem = await (await admin.GetAsync("/v1/admin/outbox?channel=pigeon")).ShouldBeProblemAsync(400, "validation_failed");
        // Every registered channel is named, in order (the Bots slice adds bots and recall, outbound events add event,
        // Billing adds its providers' channels).
        var named = problem.GetProperty("detail").GetString()!.Replace("channel must be one of ", "").TrimEnd('.').Split(", ");
        named.ShouldBe(named.Order(StringComparer.Ordinal).ToArray());
        named.ShouldBeSubsetOf(App.Services.GetServices<IOutboxChannel>().Select(c => c.Name));
        foreach (var channel in new[] { "bots", "email", "event", "paddle", "recall", "sms", "stripe" }) named.ShouldContain(channel);
        await (await admin.GetAsync("/v1/admin/outbox?cursor=garbage")).ShouldBeProblemAsync(400, "invalid_cursor");
        // A cursor of another list's shape (valid base64, not one of our ids) is no cursor either.
        var foreign = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("page=2")).TrimEnd('=');
        await (await admin.GetAsync($"/v1/admin/outbox?cursor={foreign}")).ShouldBeProblemAsync(400, "invalid_cursor");
    }

    [Fact]
    public async Task Admin_lists_dead_messages_and_retries_them()
    {
        var to = NewNumber();
        Servers.Twilio.Enqueue(to, 400, code: 21211, message: "Invalid 'To' Phone Number");
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "hello"));
        await DispatchAsync();

        var admin = App.AdminClient();
        var list = await (await admin.GetAsync("/v1/admin/outbox?status=dead&channel=sms&limit=100")).JsonAsync();
        var item = list.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("id").GetString() == sent.Id);
        item.GetProperty("status").GetString().ShouldBe("dead");
        item.TryGetProperty("payload", out _).ShouldBeFalse();
        (await (await admin.GetAsync("/v1/admin/outbox?status=pending&limit=100")).JsonAsync())
            .GetProperty("items").EnumerateArray().ShouldNotContain(i => i.GetProperty("id").GetString() == sent.Id);
        await (await admin.GetAsync("/v1/admin/outbox?status=bogus")).ShouldBeProblemAsync(400, "validation_failed");

        var detail = await (await admin.GetAsync($"/v1/admin/outbox/{sent.Id}")).JsonAsync();
        detail.GetProperty("message").GetProperty("status").GetString().ShouldBe("dead");
        var attempt = detail.GetProperty("attempts").EnumerateArray().Single();
        attempt.GetProperty("outcome").GetString().ShouldBe("permanent_failure");
        attempt.GetProperty("error").GetString()!.ShouldContain("21211");
        await (await admin.GetAsync($"/v1/admin/outbox/{Guid.NewGuid()}")).ShouldBeProblemAsync(404, "not_found");

        var retried = await admin.PostAsync($"/v1/admin/outbox/{sent.Id}/retry", null);
        retried.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await retried.JsonAsync()).GetProperty("status").GetString().ShouldBe("pending");
        await DispatchAsync();
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Sent);
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == to).ShouldBe(1);

        await (await admin.PostAsync($"/v1/admin/outbox/{sent.Id}/retry", null)).ShouldBeProblemAsync(409, "outbox_message_not_dead");
        await (await admin.PostAsync($"/v1/admin/outbox/{Guid.NewGuid()}/retry", null)).ShouldBeProblemAsync(404, "not_found");
        (await App.CreateClient().GetAsync("/v1/admin/outbox")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var metrics = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        metrics.ShouldContain("backstop_outbox_sent_total{channel=\"sms\"}");
        metrics.ShouldContain("backstop_outbox_dead_total{channel=\"sms\"}");
    }

    [Fact]
    public async Task A_message_for_an_unknown_channel_is_dead_at_once()
    {
        var sent = await EnqueueAsync(OutboxEnvelope.Create("carrier-pigeon", "test:" + Guid.NewGuid(), new { to = "coop" }));
        await DispatchAsync();
        var row = await RowAsync(sent.Id);
        row.Status.ShouldBe(OutboxStatus.Dead);
        row.LastError.ShouldNotBeNull().ShouldContain("carrier-pigeon");
    }

    [Fact]
    public async Task The_sweep_job_delivers_due_messages()
    {
        var to = NewNumber();
        var sent = await EnqueueAsync(OutboxSms.Create("test:" + Guid.NewGuid(), to, "swept"));
        var run = await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(OutboxSweepJob.Id, CancellationToken.None);
        run.Outcome.ShouldBe("succeeded");
        Servers.Twilio.Accepted.Count(r => r.Form["To"] == to).ShouldBe(1);

        // Sent messages (and their attempts) are kept for Outbox:RetentionDays (7), then deleted by the sweep.
        App.Time.Advance(TimeSpan.FromDays(6));
        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(OutboxSweepJob.Id, CancellationToken.None);
        (await RowAsync(sent.Id)).Status.ShouldBe(OutboxStatus.Sent);
        App.Time.Advance(TimeSpan.FromDays(1.1));
        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(OutboxSweepJob.Id, CancellationToken.None);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from outbox_messages where id = @Id", new { sent.Id })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from outbox_attempts where message_id = @Id", new { sent.Id })).ShouldBe(0);
        (await App.CreateClient().GetStringAsync("/metrics")).ShouldContain("backstop_outbox_pending");
    }
}

public sealed class OutboxTestsOnSqlite(SqliteApp<MessagingSetup> app) : OutboxTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class OutboxTestsOnPostgres(PostgresApp<MessagingSetup> app) : OutboxTests(app), IClassFixture<PostgresApp<MessagingSetup>>;
