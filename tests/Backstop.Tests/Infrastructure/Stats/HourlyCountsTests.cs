using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Stats;
using Backstop.Tests.Infrastructure.Inbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Stats;

/// <summary>
/// The console's hourly counts: written by the inbox's group commit, the outbox's result and the delivery log in
/// their own transactions, read by <c>GET /v1/admin/stats/hourly</c>, pruned after 30 days. Counts are compared
/// before and after each test's own traffic (the table is shared by the class's tests).
/// </summary>
public abstract class HourlyCountsTests(BackstopFactory app) : AppTest(app), IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await WebhookTestServices.EnsureEffectsTableAsync(App);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The API's counts of the last 24 hours, summed per (kind, key, outcome).</summary>
    private async Task<Dictionary<string, long>> TotalsAsync()
    {
        var response = await App.AdminClient().GetAsync("/v1/admin/stats/hourly");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        return body.GetProperty("items").EnumerateArray()
            .GroupBy(i => $"{i.GetProperty("kind").GetString()}/{i.GetProperty("key").GetString()}/{i.GetProperty("outcome").GetString()}")
            .ToDictionary(g => g.Key, g => g.Sum(i => i.GetProperty("count").GetInt64()));
    }

    private static long Delta(Dictionary<string, long> before, Dictionary<string, long> after, string key) =>
        after.GetValueOrDefault(key) - before.GetValueOrDefault(key);

    [Fact]
    public async Task Webhooks_are_counted_per_provider_and_outcome_at_receipt()
    {
        var before = await TotalsAsync();
        var client = App.CreateClient();
        var now = App.Time.GetUtcNow();
        var stripe = Enumerable.Range(0, 3).Select(_ => Deliveries.NewId("stripe")).ToList();
        foreach (var id in stripe) (await client.SendAsync(Deliveries.Build("stripe", id, now))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.SendAsync(Deliveries.Build("stripe", stripe[0], now))).StatusCode.ShouldBe(HttpStatusCode.OK); // a duplicate
        var failing = Deliveries.NewId("paddle");
        App.Service<EffectLog>().FailuresLeft[failing] = 1;
        (await client.SendAsync(Deliveries.Build("paddle", failing, now))).StatusCode.ShouldBe(HttpStatusCode.OK);
        // No handler takes this Clerk type: stored and ignored.
        (await client.SendAsync(Deliveries.Build("clerk", Deliveries.NewId("clerk"), now, type: "nobody.handles.this"))).StatusCode.ShouldBe(HttpStatusCode.OK);

        var after = await TotalsAsync();
        Delta(before, after, "webhook/stripe/processed").ShouldBe(3);
        Delta(before, after, "webhook/stripe/duplicate").ShouldBe(1);
        Delta(before, after, "webhook/paddle/failed").ShouldBe(1);
        Delta(before, after, "webhook/paddle/processed").ShouldBe(0);
        Delta(before, after, "webhook/clerk/ignored").ShouldBe(1);
    }

    [Fact]
    public async Task Outbox_sends_are_counted_per_channel_and_outcome()
    {
        var before = await TotalsAsync();
        var db = App.Service<Db>();
        string[] results = ["sent", "sent", "transient", "permanent"];
        foreach (var result in results)
            await db.InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t,
                OutboxEnvelope.Create(CountingChannel.ChannelName, "stats:" + Guid.NewGuid(), new CountingChannel.Payload(result)), CancellationToken.None));

        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

        var after = await TotalsAsync();
        Delta(before, after, $"outbox/{CountingChannel.ChannelName}/sent").ShouldBe(2);
        Delta(before, after, $"outbox/{CountingChannel.ChannelName}/retry").ShouldBe(1);
        Delta(before, after, $"outbox/{CountingChannel.ChannelName}/permanent_failure").ShouldBe(1);
    }

    [Fact]
    public async Task Event_delivery_attempts_are_counted_by_outcome()
    {
        var before = await TotalsAsync();
        var health = App.Service<EventEndpointHealth>();
        var now = App.Time.GetUtcNow();
        foreach (var outcome in new[] { EventAttemptOutcome.Sent, EventAttemptOutcome.Failed, EventAttemptOutcome.Failed, EventAttemptOutcome.Refused })
            await health.RecordAsync(new EventDeliveryAttempt(Guid.NewGuid().ToString(), "evt-" + Guid.NewGuid(), "ep-none", "msg-none", 1, now, 5, null, null, null, outcome),
                "ep-none", CancellationToken.None);

        var after = await TotalsAsync();
        Delta(before, after, "event_delivery/all/sent").ShouldBe(1);
        Delta(before, after, "event_delivery/all/failed").ShouldBe(2);
        Delta(before, after, "event_delivery/all/refused").ShouldBe(1);
    }

    [Fact]
    public async Task A_count_lands_in_the_hour_of_its_commit()
    {
        App.Time.Advance(TimeSpan.FromHours(1));
        var hour = HourlyCounts.HourOf(App.Time.GetUtcNow());
        var subject = "hour-" + Guid.NewGuid();
        await App.Service<Db>().InTransactionAsync((c, t) =>
            HourlyCounts.AddAsync(c, t, App.Time.GetUtcNow(), [new HourlyIncrement(HourlyCountKinds.Outbox, subject, "sent", 2)], CancellationToken.None));

        var body = await (await App.AdminClient().GetAsync("/v1/admin/stats/hourly")).JsonAsync();
        body.GetProperty("to").GetDateTimeOffset().ShouldBe(hour);
        body.GetProperty("from").GetDateTimeOffset().ShouldBe(hour.AddHours(-23));
        var mine = body.GetProperty("items").EnumerateArray().Where(i => i.GetProperty("key").GetString() == subject).ToList();
        mine.Count.ShouldBe(1);
        mine[0].GetProperty("hour").GetDateTimeOffset().ShouldBe(hour);
        mine[0].GetProperty("count").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task Twenty_five_concurrent_writers_of_one_hour_lose_no_count()
    {
        var subject = "race-" + Guid.NewGuid();
        var db = App.Service<Db>();
        var now = App.Time.GetUtcNow();
        await Task.WhenAll(Enumerable.Range(0, 25).Select(_ => Task.Run(() => db.InTransactionAsync((c, t) =>
            HourlyCounts.AddAsync(c, t, now, [new HourlyIncrement(HourlyCountKinds.Outbox, subject, "sent"), new HourlyIncrement(HourlyCountKinds.Outbox, subject, "retry")],
                CancellationToken.None)))));

        var counts = await App.Service<IHourlyStats>().ReadAsync(now, CancellationToken.None);
        counts.Single(c => c.Key == subject && c.Outcome == "sent").Count.ShouldBe(25);
        counts.Single(c => c.Key == subject && c.Outcome == "retry").Count.ShouldBe(25);
    }

    [Fact]
    public async Task Counts_older_than_30_days_are_pruned_by_the_job_runs_retention_sweep()
    {
        var db = App.Service<Db>();
        var now = App.Time.GetUtcNow();
        var old = "old-" + Guid.NewGuid();
        var recent = "recent-" + Guid.NewGuid();
        await db.InTransactionAsync(async (c, t) =>
        {
            await HourlyCounts.AddAsync(c, t, now.AddDays(-31), [new HourlyIncrement(HourlyCountKinds.Outbox, old, "sent")], CancellationToken.None);
            await HourlyCounts.AddAsync(c, t, now.AddDays(-29), [new HourlyIncrement(HourlyCountKinds.Outbox, recent, "sent")], CancellationToken.None);
        });

        var run = await App.Service<JobRunner>().RunAsync(JobRunsRetentionJob.Id, CancellationToken.None);
        run.Outcome.ShouldBe("succeeded");

        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from hourly_counts where subject = @old", new { old })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from hourly_counts where subject = @recent", new { recent })).ShouldBe(1);
    }

    [Fact]
    public async Task Since_outside_the_retention_is_refused_and_the_stats_are_for_the_admin_only()
    {
        var tooOld = Uri.EscapeDataString(App.Time.GetUtcNow().AddDays(-31).ToString("O"));
        await (await App.AdminClient().GetAsync($"/v1/admin/stats/hourly?since={tooOld}")).ShouldBeProblemAsync(400, "validation_failed");
        var future = Uri.EscapeDataString(App.Time.GetUtcNow().AddHours(2).ToString("O"));
        await (await App.AdminClient().GetAsync($"/v1/admin/stats/hourly?since={future}")).ShouldBeProblemAsync(400, "validation_failed");
        await (await App.CreateClient().GetAsync("/v1/admin/stats/hourly")).ShouldBeProblemAsync(401, "unauthorized");
    }
}

/// <summary>An outbox channel answering what its payload says: sent, transient or permanent.</summary>
internal sealed class CountingChannel : IOutboxChannel
{
    public const string ChannelName = "stats-test";

    public sealed record Payload(string Result);

    public string Name => ChannelName;

    public Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct) => Task.FromResult(message.PayloadAs<Payload>().Result switch
    {
        "sent" => DeliveryResult.Sent(),
        "transient" => DeliveryResult.Transient("told to fail for now"),
        _ => DeliveryResult.Permanent("told to fail for good"),
    });
}

public sealed class HourlyCountsTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        Deliveries.Configure(settings);
        // The test dispatches itself: no background loop takes its messages meanwhile.
        settings["Outbox:DispatcherEnabled"] = "false";
    }

    public override void ConfigureServices(IServiceCollection services)
    {
        WebhookTestServices.Add(services);
        services.AddSingleton<IOutboxChannel, CountingChannel>();
    }
}

public sealed class HourlyCountsTestsOnSqlite(SqliteApp<HourlyCountsTestsSetup> app) : HourlyCountsTests(app), IClassFixture<SqliteApp<HourlyCountsTestsSetup>>;

public sealed class HourlyCountsTestsOnPostgres(PostgresApp<HourlyCountsTestsSetup> app) : HourlyCountsTests(app), IClassFixture<PostgresApp<HourlyCountsTestsSetup>>;
