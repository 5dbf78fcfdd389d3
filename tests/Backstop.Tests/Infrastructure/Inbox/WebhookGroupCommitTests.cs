using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>
/// Group commit: concurrent deliveries stored and processed in shared transactions. The writer here waits up to 5 s
/// for a batch of 50 to fill, so the concurrent deliveries of a test really share batches.
/// </summary>
public abstract class WebhookGroupCommitTests(BackstopFactory app) : AppTest(app), IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await WebhookTestServices.EnsureEffectsTableAsync(App);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Two_hundred_concurrent_deliveries_of_fifty_events_store_fifty_rows_each_taking_effect_once()
    {
        var ids = Enumerable.Range(0, 50).Select(_ => Deliveries.NewId("stripe")).ToList();
        var now = App.Time.GetUtcNow();
        var client = App.CreateClient();

        var deliveries = ids.SelectMany(id => Enumerable.Repeat(id, 4)).OrderBy(_ => Random.Shared.Next()).ToList();
        var responses = await Task.WhenAll(deliveries.Select(id => Task.Run(async () =>
        {
            var response = await client.SendAsync(Deliveries.Build("stripe", id, now));
            return (id, response.StatusCode, Duplicate: (await response.JsonAsync()).GetProperty("duplicate").GetBoolean());
        })));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        foreach (var id in ids)
        {
            responses.Count(r => r.id == id && !r.Duplicate).ShouldBe(1, $"one delivery of {id} is the first");
            (await App.CountAsync("select count(*) from webhook_events where provider = 'stripe' and event_id = @id and status = 'processed'", new { id })).ShouldBe(1);
            (await App.CountAsync("select count(*) from webhook_test_effects where event_id = @id", new { id })).ShouldBe(1);
            App.Service<EffectLog>().Calls[id].ShouldBe(1);
        }
    }

    [Fact]
    public async Task A_failing_handler_fails_only_its_own_event_of_the_batch_which_is_then_retried_alone()
    {
        var ids = Enumerable.Range(0, 50).Select(_ => Deliveries.NewId("paddle")).ToList();
        var failing = ids[17];
        var effects = App.Service<EffectLog>();
        effects.FailuresLeft[failing] = 1;
        var now = App.Time.GetUtcNow();
        var client = App.CreateClient();

        // Fifty at once: the writer commits them as one batch of fifty.
        var responses = await Task.WhenAll(ids.Select(id => Task.Run(() => client.SendAsync(Deliveries.Build("paddle", id, now)))));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK); // stored durably, so acknowledged
        foreach (var id in ids.Where(i => i != failing))
        {
            (await App.CountAsync("select count(*) from webhook_events where event_id = @id and status = 'processed'", new { id })).ShouldBe(1);
            (await App.CountAsync("select count(*) from webhook_test_effects where event_id = @id", new { id })).ShouldBe(1);
        }
        (await App.CountAsync("select count(*) from webhook_events where event_id = @failing and status = 'failed' and attempts = 1", new { failing })).ShouldBe(1);
        (await App.CountAsync("select count(*) from webhook_test_effects where event_id = @failing", new { failing })).ShouldBe(0); // its write rolled back

        App.Time.Advance(TimeSpan.FromSeconds(61));
        var run = await App.Service<JobRunner>().RunAsync(WebhookInboxJob.Id, CancellationToken.None);
        run.Items.ShouldBe(1); // retried alone
        (await App.CountAsync("select count(*) from webhook_events where event_id = @failing and status = 'processed'", new { failing })).ShouldBe(1);
        (await App.CountAsync("select count(*) from webhook_test_effects where event_id = @failing", new { failing })).ShouldBe(1);
        foreach (var id in ids.Where(i => i != failing)) effects.Calls[id].ShouldBe(1);
    }

    [Fact]
    public async Task A_duplicate_inside_one_batch_is_stored_once()
    {
        var id = Deliveries.NewId("paddle");
        var others = Enumerable.Range(0, 48).Select(_ => Deliveries.NewId("paddle")).ToList();
        var now = App.Time.GetUtcNow();
        var client = App.CreateClient();

        var responses = await Task.WhenAll(others.Append(id).Append(id)
            .Select(e => Task.Run(async () => (e, Duplicate: (await (await client.SendAsync(Deliveries.Build("paddle", e, now))).JsonAsync()).GetProperty("duplicate").GetBoolean()))));

        responses.Where(r => r.e == id).Select(r => r.Duplicate).Order().ShouldBe([false, true]);
        (await App.CountAsync("select count(*) from webhook_events where event_id = @id", new { id })).ShouldBe(1);
        (await App.CountAsync("select count(*) from webhook_test_effects where event_id = @id", new { id })).ShouldBe(1);
    }
}

public sealed class WebhookGroupCommitSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        Deliveries.Configure(settings);
        settings["Webhooks:GroupCommitMaxBatch"] = "50";
        settings["Webhooks:GroupCommitWaitMilliseconds"] = "1000";
    }

    public override void ConfigureServices(IServiceCollection services) => WebhookTestServices.Add(services);
}

public sealed class WebhookGroupCommitTestsOnSqlite(SqliteApp<WebhookGroupCommitSetup> app) : WebhookGroupCommitTests(app), IClassFixture<SqliteApp<WebhookGroupCommitSetup>>;

public sealed class WebhookGroupCommitTestsOnPostgres(PostgresApp<WebhookGroupCommitSetup> app) : WebhookGroupCommitTests(app), IClassFixture<PostgresApp<WebhookGroupCommitSetup>>;
