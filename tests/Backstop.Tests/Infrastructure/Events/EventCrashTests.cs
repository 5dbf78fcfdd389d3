using System.Diagnostics;
using Backstop.Infrastructure.Events;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>
/// The service as a real process, killed with SIGKILL in the middle of a fan-out of 1,000 committed events to one
/// endpoint, then started again: every event reaches the endpoint (at least once: a delivery in flight at the kill
/// may arrive twice, which Standard Webhooks consumers absorb by the webhook-id) and every delivery ends sent.
/// </summary>
public abstract class EventCrashTests(BackstopFactory app) : AppTest(app)
{
    private const int Events = 1000;

    [Fact]
    public async Task A_kill_minus_9_mid_fan_out_loses_no_event()
    {
        await using var receiver = await EventReceiver.StartAsync();
        var path = "/crash-" + Guid.NewGuid().ToString("N");
        var organizationId = "org_crash_" + Guid.NewGuid().ToString("N");
        var endpointId = "ep_" + Guid.NewGuid().ToString("N");
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync(
                """
                insert into event_endpoints (id, organization_id, url, enabled, secret_protected, created_at, updated_at)
                values (@endpointId, null, @url, @enabled, @secret, @now, @now)
                """, new { endpointId, url = receiver.Url(path), enabled = true, secret = App.Service<EventSecrets>().Protect(EventSecrets.New()), now = App.Time.GetUtcNow() });
        var ids = new List<string>();
        for (var batch = 0; batch < Events / 100; batch++)
            ids.AddRange(await App.Service<Db>().InTransactionAsync(async (c, t) =>
            {
                var published = new List<string>();
                for (var i = 0; i < 100; i++)
                    published.Add(await App.Service<IEventPublisher>().PublishAsync(c, t, EventTypes.MeetingCreated, organizationId, new { id = $"m_{batch}_{i}" }, CancellationToken.None));
                return published;
            }));

        // The first third is answered; every later request is held unanswered until after the kill, so the kill
        // always lands mid fan-out however slowly this test is scheduled on a loaded machine (the held ones are in
        // flight at the kill). The holds are released afterwards: the restarted service's requests are answered.
        for (var i = 0; i < Events / 3; i++) receiver.Answer(path, 200);
        var holds = Enumerable.Range(0, 2 * Events).Select(_ => receiver.Hang(path)).ToList();
        int atKill;
        using (var first = await StartAsync())
        {
            await receiver.WaitForAsync(path, Events / 3 + 1).WaitAsync(TimeSpan.FromMinutes(5));
            await first.KillAsync();
            atKill = Distinct(receiver, path);
        }
        foreach (var hold in holds) hold.TrySetResult();
        atKill.ShouldBeGreaterThanOrEqualTo(Events / 3);
        atKill.ShouldBeLessThan(Events, "the kill came before the fan-out ended");

        using (var second = await StartAsync())
        {
            // The killed instance's claims are taken over once their lease (5 s here) has run out. A generous
            // real-time bound: a background process's progress on a loaded machine.
            var started = Stopwatch.StartNew();
            while (Distinct(receiver, path) < Events && started.Elapsed < TimeSpan.FromMinutes(5)) await Task.Delay(50);
            // The last answers reached the receiver before the service recorded them as sent: the kill waits for
            // those writes (killed at once, a delivery answered but not yet recorded stayed 'sending').
            while (await SentAsync(endpointId) < Events && started.Elapsed < TimeSpan.FromMinutes(5)) await Task.Delay(50);
            await second.KillAsync();
        }

        var delivered = receiver.At(path).Select(r => r.Headers["webhook-id"]).ToList();
        delivered.Distinct().Order(StringComparer.Ordinal).ShouldBe(ids.Order(StringComparer.Ordinal), "every committed event reached the endpoint");
        // At-least-once: only what was in flight at the kill may have arrived twice.
        (delivered.Count - Events).ShouldBeLessThanOrEqualTo(64);
        (await SentAsync(endpointId)).ShouldBe(Events);
    }

    private async Task<long> SentAsync(string endpointId)
    {
        await using var check = await App.OpenAsync();
        return await check.ExecuteScalarAsync<long>(
            "select count(*) from outbox_messages where channel = @channel and status = 'sent' and payload like @endpoint",
            new { channel = EventDelivery.Channel, endpoint = $"%{endpointId}%" });
    }

    private static int Distinct(EventReceiver receiver, string path) =>
        receiver.At(path).Select(r => r.Headers.GetValueOrDefault("webhook-id")).Distinct().Count();

    private Task<RunningService> StartAsync() => ServiceProcess.StartListeningAsync(App, new Dictionary<string, string>
    {
        ["Events__AllowHttp"] = "true",
        ["Events__AllowPrivateTargets"] = "true",
        ["Outbox__LeaseSeconds"] = "5",
        ["Outbox__PollIntervalMilliseconds"] = "200",
    });
}

public sealed class EventCrashTestsOnSqlite(SqliteApp<PermissiveEventsSetup> app) : EventCrashTests(app), IClassFixture<SqliteApp<PermissiveEventsSetup>>;

public sealed class EventCrashTestsOnPostgres(PostgresApp<PermissiveEventsSetup> app) : EventCrashTests(app), IClassFixture<PostgresApp<PermissiveEventsSetup>>;
