using System.Collections.Concurrent;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Tests.Infrastructure.Inbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Features.Webhooks;

/// <summary>
/// Bulk replay (<c>POST /v1/admin/webhooks/replays</c>): a dry-run count, a replay worked in batches that resumes
/// after a worker died, cancel midway, and two replays of overlapping filters never running one event's handlers
/// at the same time. Each test's events have a type of their own.
/// </summary>
public abstract class BulkReplayTests(BackstopFactory app) : AppTest(app), IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await WebhookTestServices.EnsureEffectsTableAsync(App);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Stores <paramref name="count"/> Stripe events of <paramref name="type"/> as they are after processing (or dying).</summary>
    private async Task<List<string>> StoredAsync(string type, int count, string status = "dead", string? payloadWord = null)
    {
        var now = App.Time.GetUtcNow();
        var ids = new List<string>();
        await using var connection = await App.OpenAsync();
        for (var i = 0; i < count; i++)
        {
            var id = Guid.CreateVersion7(now.AddMilliseconds(i)).ToString();
            var eventId = "evt_" + Guid.NewGuid().ToString("N");
            await connection.ExecuteAsync(
                """
                insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, last_error,
                                            received_at, processed_at, replay_count, created_at, updated_at)
                values (@id, 'stripe', @eventId, @type, @payload, @status, 3, @now, null, @now, null, 0, @now, @now)
                """, new { id, eventId, type, payload = $$"""{"id":"{{eventId}}","type":"{{type}}","note":"{{payloadWord ?? "plain"}}"}""", status, now });
            ids.Add(eventId);
        }
        return ids;
    }

    private static string NewType() => "replay.t" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task A_dry_run_counts_the_matches_of_every_filter_and_starts_nothing()
    {
        var type = NewType();
        await StoredAsync(type, 4, "dead");
        await StoredAsync(type, 2, "processed", payloadWord: "Needle-In-Payload");
        await StoredAsync(type, 3, "failed"); // the inbox job's: never replayed
        var admin = App.AdminClient();

        async Task<int> CountAsync(object body)
        {
            var response = await admin.PostJsonAsync("/v1/admin/webhooks/replays", body);
            response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
            var json = await response.JsonAsync();
            json.GetProperty("dryRun").GetBoolean().ShouldBeTrue();
            json.GetProperty("replay").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
            return json.GetProperty("total").GetInt32();
        }

        (await CountAsync(new { type, dryRun = true })).ShouldBe(6);
        (await CountAsync(new { type, status = "DEAD", provider = "stripe", dryRun = true })).ShouldBe(4);
        (await CountAsync(new { type, q = "needle-in", dryRun = true })).ShouldBe(2);
        (await CountAsync(new { type, q = "50%_off", dryRun = true })).ShouldBe(0); // like's wildcards are searched as text
        (await CountAsync(new { type, provider = "paddle", dryRun = true })).ShouldBe(0);
        (await CountAsync(new { type, from = App.Time.GetUtcNow().AddMinutes(1), dryRun = true })).ShouldBe(0);
        (await CountAsync(new { type, to = App.Time.GetUtcNow().AddMinutes(1), dryRun = true })).ShouldBe(6);
        (await App.CountAsync("select count(*) from webhook_replays where event_type = @type", new { type })).ShouldBe(0);

        await (await admin.PostJsonAsync("/v1/admin/webhooks/replays", new { type, status = "failed" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync("/v1/admin/webhooks/replays", new { provider = "pigeon" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync("/v1/admin/webhooks/replays",
            new { from = App.Time.GetUtcNow(), to = App.Time.GetUtcNow().AddHours(-1) })).ShouldBeProblemAsync(400, "validation_failed");
        (await App.CountAsync("select count(*) from webhook_replays where event_type = @type", new { type })).ShouldBe(0);
        await (await App.CreateClient().PostJsonAsync("/v1/admin/webhooks/replays", new { type })).ShouldBeProblemAsync(401, "unauthorized");
    }

    [Fact]
    public async Task A_replay_works_in_batches_and_resumes_after_its_worker_died_replaying_each_event_once()
    {
        var type = NewType();
        var ids = await StoredAsync(type, WebhookReplays.BatchSize + 30);
        var admin = App.AdminClient();
        var started = await (await admin.PostJsonAsync("/v1/admin/webhooks/replays", new { type })).JsonAsync();
        var replayId = started.GetProperty("replay").GetProperty("id").GetString()!;
        started.GetProperty("total").GetInt32().ShouldBe(ids.Count);
        started.GetProperty("replay").GetProperty("state").GetString().ShouldBe("running");
        (await App.CountAsync("select count(*) from audit_log where action = 'webhook_replay.create' and target_id = @replayId", new { replayId })).ShouldBe(1);

        var replays = App.Service<WebhookReplays>();
        (await replays.ProcessBatchAsync(replayId, CancellationToken.None)).ShouldBe((WebhookReplays.BatchSize, false));
        var progress = await (await admin.GetAsync($"/v1/admin/webhooks/replays/{replayId}")).JsonAsync();
        progress.GetProperty("replayed").GetInt32().ShouldBe(WebhookReplays.BatchSize);
        progress.GetProperty("done").GetInt32().ShouldBe(WebhookReplays.BatchSize);
        progress.GetProperty("state").GetString().ShouldBe("running");

        // A worker took the replay and died holding it: nobody else works it until its lease runs out.
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update webhook_replays set lease_holder = 'dead-worker', lease_until = @until where id = @replayId",
                new { replayId, until = App.Time.GetUtcNow() + WebhookReplays.Lease });
        (await App.Service<JobRunner>().RunAsync(WebhookReplayJob.Id, CancellationToken.None)).Items.ShouldBe(0);
        App.Time.Advance(WebhookReplays.Lease + TimeSpan.FromSeconds(1));
        (await App.Service<JobRunner>().RunAsync(WebhookReplayJob.Id, CancellationToken.None)).Items.ShouldBe(30);

        var done = await (await admin.GetAsync($"/v1/admin/webhooks/replays/{replayId}")).JsonAsync();
        done.GetProperty("state").GetString().ShouldBe("completed");
        done.GetProperty("replayed").GetInt32().ShouldBe(ids.Count);
        done.GetProperty("finishedAt").ValueKind.ShouldNotBe(System.Text.Json.JsonValueKind.Null);
        var effects = App.Service<EffectLog>();
        foreach (var id in ids) effects.Calls[id].ShouldBe(1, $"{id} replayed once");
        (await App.CountAsync("select count(*) from webhook_events where event_type = @type and status = 'processed' and replay_count = 1", new { type })).ShouldBe(ids.Count);

        await (await admin.GetAsync("/v1/admin/webhooks/replays/nope")).ShouldBeProblemAsync(404, "not_found");
        await (await admin.PostAsync($"/v1/admin/webhooks/replays/{replayId}/cancel", null)).ShouldBeProblemAsync(409, "replay_finished");
    }

    [Fact]
    public async Task A_replay_cancelled_midway_replays_nothing_more_and_failures_are_counted()
    {
        var type = NewType();
        var ids = await StoredAsync(type, WebhookReplays.BatchSize + 20);
        var effects = App.Service<EffectLog>();
        effects.FailuresLeft[ids[3]] = 1; // its replay fails once: counted, the replay goes on
        var admin = App.AdminClient();
        var replayId = (await (await admin.PostJsonAsync("/v1/admin/webhooks/replays", new { type, status = "dead" })).JsonAsync())
            .GetProperty("replay").GetProperty("id").GetString()!;
        await App.Service<WebhookReplays>().ProcessBatchAsync(replayId, CancellationToken.None);

        var cancel = await admin.PostAsync($"/v1/admin/webhooks/replays/{replayId}/cancel", null);
        cancel.StatusCode.ShouldBe(HttpStatusCode.OK);
        var cancelled = await cancel.JsonAsync();
        cancelled.GetProperty("state").GetString().ShouldBe("cancelled");
        cancelled.GetProperty("replayed").GetInt32().ShouldBe(WebhookReplays.BatchSize - 1);
        cancelled.GetProperty("failed").GetInt32().ShouldBe(1);
        (await App.CountAsync("select count(*) from audit_log where action = 'webhook_replay.cancel' and target_id = @replayId", new { replayId })).ShouldBe(1);

        await App.Service<JobRunner>().RunAsync(WebhookReplayJob.Id, CancellationToken.None);
        (await App.Service<WebhookReplays>().ProcessBatchAsync(replayId, CancellationToken.None)).ShouldBe((0, true));
        foreach (var id in ids.Skip(WebhookReplays.BatchSize)) effects.Calls.ContainsKey(id).ShouldBeFalse($"{id} is after the cancel");
        (await App.CountAsync("select count(*) from webhook_events where event_type = @type and status = 'dead'", new { type })).ShouldBe(21); // 20 + the failed one
        var after = await (await admin.GetAsync($"/v1/admin/webhooks/replays/{replayId}")).JsonAsync();
        after.GetProperty("state").GetString().ShouldBe("cancelled");
        after.GetProperty("done").GetInt32().ShouldBe(WebhookReplays.BatchSize);
        await (await admin.PostAsync($"/v1/admin/webhooks/replays/{replayId}/cancel", null)).ShouldBeProblemAsync(409, "replay_finished");
    }

    [Fact]
    public async Task Two_replays_of_overlapping_filters_worked_by_24_concurrent_workers_never_run_one_event_twice_at_once()
    {
        var type = "replay.inflight." + Guid.NewGuid().ToString("N")[..12];
        var ids = await StoredAsync(type, 30);
        var admin = App.AdminClient();
        var a = (await (await admin.PostJsonAsync("/v1/admin/webhooks/replays", new { type })).JsonAsync()).GetProperty("replay").GetProperty("id").GetString()!;
        var b = (await (await admin.PostJsonAsync("/v1/admin/webhooks/replays", new { type, provider = "stripe", status = "dead" })).JsonAsync())
            .GetProperty("replay").GetProperty("id").GetString()!;

        var replays = App.Service<WebhookReplays>();
        using var go = new ManualResetEventSlim();
        var workers = Enumerable.Range(0, 24).Select(i => Task.Run(async () =>
        {
            go.Wait();
            return await replays.ProcessBatchAsync(i % 2 == 0 ? a : b, CancellationToken.None);
        })).ToList();
        go.Set();
        var results = await Task.WhenAll(workers);

        results.Sum(r => r.Worked).ShouldBeLessThanOrEqualTo(60, "no event worked twice by one replay");
        var inFlight = App.Service<InFlightLog>();
        inFlight.MaxAtOnce.ShouldBe(1);
        var ra = await replays.GetAsync(a, CancellationToken.None);
        var rb = await replays.GetAsync(b, CancellationToken.None);
        ra.State.ShouldBe("completed");
        rb.State.ShouldBe("completed");
        // Each successful replay of either ran the handlers once, one after the other (the claim decides who is first);
        // B matches dead events only, so what A replayed before B's turn no longer matches and is skipped.
        (ra.Replayed + rb.Replayed).ShouldBe(ids.Sum(id => App.Service<EffectLog>().Calls.GetValueOrDefault(id)));
        ra.Replayed.ShouldBe(30); // A matches every replayable status: each event's turn comes, whoever replayed it before
        ra.Done.ShouldBe(30);
        rb.Done.ShouldBe(30);
    }
}

/// <summary>How many handlers of one event ran at the same time, at most.</summary>
public sealed class InFlightLog
{
    private readonly ConcurrentDictionary<string, int> running = new();
    private int max;

    public int MaxAtOnce => Volatile.Read(ref max);

    public async Task RunAsync(string eventId)
    {
        var now = running.AddOrUpdate(eventId, 1, (_, n) => n + 1);
        int seen;
        while ((seen = Volatile.Read(ref max)) < now && Interlocked.CompareExchange(ref max, now, seen) != seen)
        {
        }
        // Holds the event a moment, so that a second processor of it (if the claim let one in) would overlap.
        await Task.Delay(10);
        running.AddOrUpdate(eventId, 0, (_, n) => n - 1);
    }
}

internal sealed class InFlightHandler(InFlightLog log) : IWebhookHandler
{
    public string Provider => "stripe";

    public bool Handles(string eventType) => eventType.StartsWith("replay.inflight.", StringComparison.Ordinal);

    public Task HandleAsync(WebhookContext context, CancellationToken ct) => log.RunAsync(context.Event.EventId);
}

public sealed class BulkReplayTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => Deliveries.Configure(settings);

    public override void ConfigureServices(IServiceCollection services)
    {
        WebhookTestServices.Add(services);
        services.AddSingleton<InFlightLog>();
        services.AddScoped<IWebhookHandler, InFlightHandler>();
    }
}

public sealed class BulkReplayTestsOnSqlite(SqliteApp<BulkReplayTestsSetup> app) : BulkReplayTests(app), IClassFixture<SqliteApp<BulkReplayTestsSetup>>;

public sealed class BulkReplayTestsOnPostgres(PostgresApp<BulkReplayTestsSetup> app) : BulkReplayTests(app), IClassFixture<PostgresApp<BulkReplayTestsSetup>>;
