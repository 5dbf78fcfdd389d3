using Backstop.Infrastructure.Inbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>
/// A handler that cannot be built (a registration error, as when a new type's name shadowed the one a handler needs)
/// fails its batch with 503; the inbox's writer lives on and the next delivery is stored. Before, the exception ended
/// the writer and every later delivery waited for ever.
/// </summary>
public abstract class WebhookWriterSurvivalTests(BackstopFactory app) : AppTest(app)
{
    /// <summary>A guard, not a timing assumption: a delivery either answers or the writer is gone.</summary>
    private static readonly TimeSpan Answered = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_handler_that_cannot_be_built_answers_503_and_the_next_delivery_is_stored()
    {
        var now = App.Time.GetUtcNow();
        var client = App.CreateClient();
        var broken = Deliveries.NewId("stripe");
        App.Service<BrokenHandlerSwitch>().Broken = true;
        var refused = await client.SendAsync(Deliveries.Build("stripe", broken, now)).WaitAsync(Answered);
        await refused.ShouldBeProblemAsync(503, "inbox_unavailable");

        App.Service<BrokenHandlerSwitch>().Broken = false;
        var next = Deliveries.NewId("stripe");
        (await client.SendAsync(Deliveries.Build("stripe", next, now)).WaitAsync(Answered)).StatusCode.ShouldBe(HttpStatusCode.OK);
        // The refused one again (the provider retries): stored now.
        (await client.SendAsync(Deliveries.Build("stripe", broken, now)).WaitAsync(Answered)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from webhook_events where provider = 'stripe' and event_id in (@broken, @next)",
            new { broken, next })).ShouldBe(2);
    }
}

public sealed class BrokenHandlerSwitch
{
    public volatile bool Broken;
}

public sealed class WebhookWriterSurvivalSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => Deliveries.Configure(settings);

    public override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<BrokenHandlerSwitch>();
        services.AddScoped<IWebhookHandler>(sp => sp.GetRequiredService<BrokenHandlerSwitch>().Broken
            ? throw new InvalidOperationException("Unable to resolve a service this handler needs (test).")
            : new NoOpStripeHandler());
    }

    private sealed class NoOpStripeHandler : IWebhookHandler
    {
        public string Provider => "stripe";

        public bool Handles(string eventType) => eventType == "test.effect";

        public Task HandleAsync(WebhookContext context, CancellationToken ct) => Task.CompletedTask;
    }
}

public sealed class WebhookWriterSurvivalTestsOnSqlite(SqliteApp<WebhookWriterSurvivalSetup> app) : WebhookWriterSurvivalTests(app), IClassFixture<SqliteApp<WebhookWriterSurvivalSetup>>;

public sealed class WebhookWriterSurvivalTestsOnPostgres(PostgresApp<WebhookWriterSurvivalSetup> app) : WebhookWriterSurvivalTests(app), IClassFixture<PostgresApp<WebhookWriterSurvivalSetup>>;
