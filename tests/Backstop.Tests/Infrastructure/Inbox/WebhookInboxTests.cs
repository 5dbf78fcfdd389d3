using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>Retries with backoff, dead events and replay, retention, and the admin API (Webhooks:MaxAttempts = 3).</summary>
public abstract class WebhookInboxTests(BackstopFactory app) : AppTest(app), IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await WebhookTestServices.EnsureEffectsTableAsync(App);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed record Row
    {
        public string Id { get; init; } = "";
        public string Status { get; init; } = "";
        public long Attempts { get; init; }
        public string? LastError { get; init; }
        public DateTimeOffset NextAttemptAt { get; init; }
        public long ReplayCount { get; init; }
        public DateTimeOffset? LastReplayedAt { get; init; }
    }

    private async Task<Row> RowAsync(string provider, string eventId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<Row>(
            "select id, status, attempts, last_error, next_attempt_at, replay_count, last_replayed_at from webhook_events where provider = @provider and event_id = @eventId",
            new { provider, eventId });
    }

    private async Task<long> EffectsAsync(string eventId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("select count(*) from webhook_test_effects where event_id = @eventId", new { eventId });
    }

    private Task<JobRun> SweepAsync() => App.Service<JobRunner>().RunAsync(WebhookInboxJob.Id, CancellationToken.None);

    private async Task<long> EffectsAsync(string eventId, string provider)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("select count(*) from webhook_test_effects where event_id = @eventId and provider = @provider", new { eventId, provider });
    }

    [Fact]
    public async Task Every_handler_of_an_event_runs_in_one_transaction_and_a_failing_second_one_rolls_back_both()
    {
        var id = Deliveries.NewId("paddle");
        var effects = App.Service<EffectLog>();
        effects.FailuresLeft["second:" + id] = 1; // the inline attempt fails in the second handler

        (await App.CreateClient().SendAsync(Deliveries.Build("paddle", id, App.Time.GetUtcNow(), type: "test.fanout"))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var failed = await RowAsync("paddle", id);
        failed.Status.ShouldBe("failed");
        failed.LastError!.ShouldContain("SecondEffectHandler failed");
        (await EffectsAsync(id, "paddle")).ShouldBe(0);        // the first handler's write was rolled back too
        (await EffectsAsync(id, "paddle-second")).ShouldBe(0);

        App.Time.Advance(TimeSpan.FromSeconds(61));
        (await SweepAsync()).Outcome.ShouldBe("succeeded");
        (await RowAsync("paddle", id)).Status.ShouldBe("processed");
        (await EffectsAsync(id, "paddle")).ShouldBe(1);        // the retry ran both, each once
        (await EffectsAsync(id, "paddle-second")).ShouldBe(1);
        effects.Sequence.Where(s => s.EndsWith(id, StringComparison.Ordinal)).ShouldBe(["first:" + id, "second:" + id, "first:" + id, "second:" + id]);

        App.Time.Advance(TimeSpan.FromHours(1));
        await SweepAsync(); // processed: never run again
        (await EffectsAsync(id, "paddle")).ShouldBe(1);
        (await EffectsAsync(id, "paddle-second")).ShouldBe(1);
    }

    [Fact]
    public async Task A_handler_that_fails_twice_then_succeeds_is_processed_on_the_third_sweep_without_partial_writes()
    {
        var id = Deliveries.NewId("paddle");
        App.Service<EffectLog>().FailuresLeft[id] = 3; // the inline attempt and two sweeps fail

        (await App.CreateClient().SendAsync(Deliveries.Build("paddle", id, App.Time.GetUtcNow()))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var afterDelivery = await RowAsync("paddle", id);
        afterDelivery.Status.ShouldBe("failed");
        afterDelivery.Attempts.ShouldBe(1);
        afterDelivery.LastError!.ShouldContain("told to fail");
        afterDelivery.NextAttemptAt.ShouldBe(App.Time.GetUtcNow().AddSeconds(60));
        (await EffectsAsync(id)).ShouldBe(0);

        // Sweep 1: the backoff has not passed, nothing is tried.
        (await SweepAsync()).Outcome.ShouldBe("succeeded");
        (await RowAsync("paddle", id)).Attempts.ShouldBe(1);
        App.Service<EffectLog>().Calls[id].ShouldBe(1);

        // Sweep 2: due, fails again; the next delay doubles.
        App.Time.Advance(TimeSpan.FromSeconds(61));
        await SweepAsync();
        var afterSecond = await RowAsync("paddle", id);
        afterSecond.Status.ShouldBe("failed");
        afterSecond.Attempts.ShouldBe(2);
        afterSecond.NextAttemptAt.ShouldBe(App.Time.GetUtcNow().AddSeconds(120));
        (await EffectsAsync(id)).ShouldBe(0);

        App.Service<EffectLog>().FailuresLeft[id] = 0;
        App.Time.Advance(TimeSpan.FromSeconds(121));
        // Sweep 3: processed, with exactly the one effect of the successful attempt.
        await SweepAsync();
        var done = await RowAsync("paddle", id);
        done.Status.ShouldBe("processed");
        done.Attempts.ShouldBe(3);
        done.LastError.ShouldBeNull();
        (await EffectsAsync(id)).ShouldBe(1);
        App.Service<EffectLog>().Calls[id].ShouldBe(3);
    }

    [Fact]
    public async Task A_handler_that_always_fails_makes_the_event_dead_and_a_replay_processes_it()
    {
        var id = Deliveries.NewId("recall");
        App.Service<EffectLog>().FailuresLeft[id] = 1000;

        await App.CreateClient().SendAsync(Deliveries.Build("recall", id, App.Time.GetUtcNow()));
        for (var sweep = 0; sweep < 4; sweep++)
        {
            App.Time.Advance(TimeSpan.FromHours(7)); // past the longest backoff
            await SweepAsync();
        }
        var dead = await RowAsync("recall", id);
        dead.Status.ShouldBe("dead");
        dead.Attempts.ShouldBe(3); // Webhooks:MaxAttempts, then no more tries
        App.Service<EffectLog>().Calls[id].ShouldBe(3);
        (await EffectsAsync(id)).ShouldBe(0);
        (await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync()).ShouldContain("backstop_webhooks_dead_total{provider=\"recall\"}");

        // A replay while the handler still fails leaves it dead, with the replay recorded.
        var admin = App.AdminClient();
        await (await admin.PostAsync($"/v1/admin/webhooks/{dead.Id}/replay", null)).ShouldBeProblemAsync(422, "replay_failed");
        (await RowAsync("recall", id)).Status.ShouldBe("dead");
        (await EffectsAsync(id)).ShouldBe(0);

        App.Service<EffectLog>().FailuresLeft[id] = 0;
        var replay = await admin.PostAsync($"/v1/admin/webhooks/{dead.Id}/replay", null);
        replay.StatusCode.ShouldBe(HttpStatusCode.OK, await replay.Content.ReadAsStringAsync());
        (await replay.JsonAsync()).GetProperty("status").GetString().ShouldBe("processed");
        var replayed = await RowAsync("recall", id);
        replayed.Status.ShouldBe("processed");
        replayed.ReplayCount.ShouldBe(2);
        replayed.LastReplayedAt.ShouldBe(App.Time.GetUtcNow());
        (await EffectsAsync(id)).ShouldBe(1);
    }

    [Fact]
    public async Task A_processed_event_can_be_replayed_and_a_failed_one_is_left_to_the_inbox()
    {
        var processedId = Deliveries.NewId("stripe");
        var failingId = Deliveries.NewId("stripe");
        App.Service<EffectLog>().FailuresLeft[failingId] = 1;
        var client = App.CreateClient();
        await client.SendAsync(Deliveries.Build("stripe", processedId, App.Time.GetUtcNow()));
        await client.SendAsync(Deliveries.Build("stripe", failingId, App.Time.GetUtcNow()));
        var admin = App.AdminClient();

        (await admin.PostAsync($"/v1/admin/webhooks/{(await RowAsync("stripe", processedId)).Id}/replay", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await EffectsAsync(processedId)).ShouldBe(2); // a replay re-runs the handler: that is what it is for

        await (await admin.PostAsync($"/v1/admin/webhooks/{(await RowAsync("stripe", failingId)).Id}/replay", null)).ShouldBeProblemAsync(409, "not_replayable");
        await (await admin.PostAsync("/v1/admin/webhooks/no-such-event/replay", null)).ShouldBeProblemAsync(404, "not_found");
        await (await App.CreateClient().PostAsync($"/v1/admin/webhooks/{(await RowAsync("stripe", processedId)).Id}/replay", null)).ShouldBeProblemAsync(401, "unauthorized");
    }

    [Fact]
    public async Task Concurrent_sweeps_and_replays_never_run_a_handler_twice_for_one_attempt()
    {
        var id = Deliveries.NewId("deepgram");
        App.Service<EffectLog>().FailuresLeft[id] = 1;
        await App.CreateClient().SendAsync(Deliveries.Build("deepgram", id, App.Time.GetUtcNow()));
        App.Time.Advance(TimeSpan.FromMinutes(2));
        var rowId = (await RowAsync("deepgram", id)).Id;
        var inbox = App.Service<WebhookInbox>();

        // 20 processors race for the one due event: exactly one claims it.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => inbox.ProcessAsync(rowId, CancellationToken.None))));

        outcomes.Count(o => o == ProcessOutcome.Processed).ShouldBe(1);
        outcomes.Count(o => o == ProcessOutcome.NotClaimed).ShouldBe(19);
        (await EffectsAsync(id)).ShouldBe(1);
        App.Service<EffectLog>().Calls[id].ShouldBe(2);
    }

    [Fact]
    public async Task A_received_event_whose_inline_processing_never_ran_is_processed_by_the_next_sweep()
    {
        // As if the instance stopped between storing the event and processing it.
        var eventId = Deliveries.NewId("paddle");
        var now = App.Time.GetUtcNow();
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync(
                """
                insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, received_at, replay_count, created_at, updated_at)
                values (@id, 'paddle', @eventId, 'test.effect', '{}', 'received', 0, @now, @now, 0, @now, @now)
                """, new { id = Guid.NewGuid().ToString(), eventId, now });

        await SweepAsync();

        (await RowAsync("paddle", eventId)).Status.ShouldBe("processed");
        (await EffectsAsync(eventId)).ShouldBe(1);
    }

    [Fact]
    public async Task A_duplicate_of_a_failed_event_does_not_trigger_an_early_retry()
    {
        var id = Deliveries.NewId("stripe");
        App.Service<EffectLog>().FailuresLeft[id] = 1;
        var client = App.CreateClient();

        await client.SendAsync(Deliveries.Build("stripe", id, App.Time.GetUtcNow()));
        var again = await client.SendAsync(Deliveries.Build("stripe", id, App.Time.GetUtcNow()));

        again.StatusCode.ShouldBe(HttpStatusCode.OK);
        var row = await RowAsync("stripe", id);
        row.Status.ShouldBe("failed");
        row.Attempts.ShouldBe(1);
        App.Service<EffectLog>().Calls[id].ShouldBe(1);
    }

    [Fact]
    public async Task Retention_deletes_only_events_old_enough_for_their_status()
    {
        var now = App.Time.GetUtcNow();
        var cases = new (string Status, double AgeDays, bool Deleted)[]
        {
            ("processed", 7.1, true), ("processed", 6.9, false),
            ("ignored", 7.1, true), ("ignored", 6.9, false),
            ("dead", 30.1, true), ("dead", 29.9, false),
            ("failed", 40, false), ("received", 40, false),
        };
        var ids = new List<(string Id, bool Deleted)>();
        await using var connection = await App.OpenAsync();
        foreach (var (status, age, deleted) in cases)
        {
            var id = Guid.NewGuid().ToString();
            var at = now.AddDays(-age);
            await connection.ExecuteAsync(
                """
                insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, received_at, replay_count, created_at, updated_at)
                values (@id, 'retention-test', @id, 'test.old', '{}', @status, 1, @far, @at, 0, @at, @at)
                """, new { id, status, at, far = now.AddYears(1) });
            ids.Add((id, deleted));
        }

        var run = await App.Service<JobRunner>().RunAsync(WebhookRetentionJob.Id, CancellationToken.None);

        run.Outcome.ShouldBe("succeeded");
        run.Items.ShouldBeGreaterThanOrEqualTo(3);
        foreach (var (id, deleted) in ids)
            (await connection.ExecuteScalarAsync<long>("select count(*) from webhook_events where id = @id", new { id })).ShouldBe(deleted ? 0 : 1, id);
    }

    [Fact]
    public async Task Admins_list_events_newest_first_with_filters_and_read_one_with_its_payload()
    {
        var type = "test.list." + Guid.NewGuid().ToString("N")[..8];
        var client = App.CreateClient();
        var eventIds = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var id = Deliveries.NewId("clerk");
            eventIds.Add(id);
            (await client.SendAsync(Deliveries.Build("clerk", id, App.Time.GetUtcNow(), type: type))).StatusCode.ShouldBe(HttpStatusCode.OK);
            App.Time.Advance(TimeSpan.FromSeconds(1));
        }
        var admin = App.AdminClient();

        var firstResponse = await admin.GetAsync($"/v1/admin/webhooks?provider=clerk&type={type}&status=processed&limit=2");
        var first = await firstResponse.JsonAsync();
        var items = first.GetProperty("items").EnumerateArray().ToList();
        items.Select(i => i.GetProperty("eventId").GetString()).ShouldBe([eventIds[2], eventIds[1]]);
        items[0].TryGetProperty("payload", out _).ShouldBeFalse();
        var cursor = first.GetProperty("nextCursor").GetString();
        var second = await (await admin.GetAsync($"/v1/admin/webhooks?provider=clerk&type={type}&limit=2&cursor={cursor}")).JsonAsync();
        second.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("eventId").GetString()).ShouldBe([eventIds[0]]);
        (await (await admin.GetAsync($"/v1/admin/webhooks?provider=stripe&type={type}")).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);

        var id0 = items[0].GetProperty("id").GetString();
        var details = await (await admin.GetAsync($"/v1/admin/webhooks/{id0}")).JsonAsync();
        details.GetProperty("status").GetString().ShouldBe("processed");
        details.GetProperty("payload").GetProperty("type").GetString().ShouldBe(type);

        await (await admin.GetAsync("/v1/admin/webhooks/nope")).ShouldBeProblemAsync(404, "not_found");
        await (await admin.GetAsync("/v1/admin/webhooks?status=weird")).ShouldBeProblemAsync(400, "validation_failed");
        // Filters: case is normalised, an unknown provider is refused rather than matching nothing.
        (await (await admin.GetAsync($"/v1/admin/webhooks?provider=CLERK&status=Processed&type={type}")).JsonAsync())
            .GetProperty("items").GetArrayLength().ShouldBe(3);
        var unknown = await (await admin.GetAsync("/v1/admin/webhooks?provider=pigeon")).ShouldBeProblemAsync(400, "validation_failed");
        unknown.GetProperty("detail").GetString()!.ShouldContain("stripe");
        await (await admin.GetAsync("/v1/admin/webhooks?cursor=garbage")).ShouldBeProblemAsync(400, "invalid_cursor");
        await (await App.CreateClient().GetAsync("/v1/admin/webhooks")).ShouldBeProblemAsync(401, "unauthorized");
    }
}

public sealed class WebhookInboxTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => Deliveries.Configure(settings);
    public override void ConfigureServices(IServiceCollection services) => WebhookTestServices.Add(services);
}

public sealed class WebhookInboxTestsOnSqlite(SqliteApp<WebhookInboxTestsSetup> app) : WebhookInboxTests(app), IClassFixture<SqliteApp<WebhookInboxTestsSetup>>;

public sealed class WebhookInboxTestsOnPostgres(PostgresApp<WebhookInboxTestsSetup> app) : WebhookInboxTests(app), IClassFixture<PostgresApp<WebhookInboxTestsSetup>>;
