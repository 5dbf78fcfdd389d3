using System.Diagnostics;
using System.Text;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary><c>backstop send-test-webhook stripe</c>: what it signs is what the inbox verifies, stores and lets replay.</summary>
public abstract class TestWebhookTests(BackstopFactory app) : AppTest(app)
{
    private static HttpRequestMessage Post(string body, string signature)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        return request;
    }

    [Fact]
    public async Task The_signed_test_event_is_stored_ignored_and_can_be_replayed()
    {
        var eventId = "evt_test_" + Guid.NewGuid().ToString("N");
        var (body, signature) = TestWebhook.Sign(Deliveries.StripeSecret, eventId, App.Time.GetUtcNow());

        (await App.CreateClient().SendAsync(Post(body, signature))).StatusCode.ShouldBe(HttpStatusCode.OK);

        await using var connection = await App.OpenAsync();
        var (id, status, type) = await connection.QuerySingleAsync<(string, string, string)>(
            "select id, status, event_type from webhook_events where provider = 'stripe' and event_id = @eventId", new { eventId });
        status.ShouldBe("ignored");
        type.ShouldBe(TestWebhook.EventType);
        var replayed = await App.AdminClient().PostAsync($"/v1/admin/webhooks/{id}/replay", null);
        replayed.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await replayed.JsonAsync()).GetProperty("replayCount").GetInt32().ShouldBe(1);
    }

    [Fact]
    public async Task A_test_event_signed_with_another_secret_is_refused_and_not_stored()
    {
        var eventId = "evt_test_" + Guid.NewGuid().ToString("N");
        var (body, signature) = TestWebhook.Sign("whsec_not_the_configured_one", eventId, App.Time.GetUtcNow());
        (await App.CreateClient().SendAsync(Post(body, signature))).IsSuccessStatusCode.ShouldBeFalse();
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from webhook_events where event_id = @eventId", new { eventId })).ShouldBe(0);
    }
}

public sealed class TestWebhookTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => settings["Stripe:WebhookSecret"] = Deliveries.StripeSecret;
}

public sealed class TestWebhookTestsOnSqlite(SqliteApp<TestWebhookTestsSetup> app) : TestWebhookTests(app), IClassFixture<SqliteApp<TestWebhookTestsSetup>>;

public sealed class TestWebhookTestsOnPostgres(PostgresApp<TestWebhookTestsSetup> app) : TestWebhookTests(app), IClassFixture<PostgresApp<TestWebhookTestsSetup>>;

/// <summary>
/// The README's first-five-minutes tour, run as written by <c>scripts/tour.sh</c> against the built service (a real
/// process on a fresh directory, SQLite): start, organization and key, <c>send-test-webhook stripe</c>, the inbox,
/// a replay, usage consumed and seen moving. CI also runs it against the published binary (smoke-published.sh).
/// </summary>
public sealed class TourTests
{
    [Fact]
    public async Task The_readme_tour_runs_as_documented()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "scripts", "tour.sh"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("scripts/tour.sh not found above the test binary");
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(root, "scripts", "tour.sh"));
        start.Environment["BACKSTOP"] = "dotnet " + typeof(Program).Assembly.Location;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        var text = await output + await errors;
        process.ExitCode.ShouldBe(0, text);
        text.ShouldContain("tour: ok");
    }
}
