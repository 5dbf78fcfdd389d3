using System.Collections.Concurrent;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>
/// The service as a real process, killed with SIGKILL in the middle of a flood of Clerk deliveries, then started
/// again and sent every delivery once more: every event it had acknowledged must already be stored (its
/// re-delivery is a duplicate), and every event ends stored and processed exactly once.
/// </summary>
public abstract class WebhookCrashTests(BackstopFactory app) : AppTest(app)
{
    private const int Events = 300;

    [Fact]
    public async Task A_kill_minus_9_mid_flood_loses_no_acknowledged_event_and_processes_each_exactly_once()
    {
        var users = Enumerable.Range(0, Events).Select(_ => "user_" + Guid.NewGuid().ToString("N")).ToList();
        var messageIds = users.ToDictionary(u => u, _ => "msg_" + Guid.NewGuid().ToString("N"));

        var acknowledged = new ConcurrentBag<string>();
        using (var first = await StartAsync())
        {
            // Once a third is acknowledged no sender starts another delivery until the kill: the deliveries then in
            // flight (up to one per sender) meet the kill, and the flood cannot end before it however slowly this
            // test's own polling is scheduled on a loaded machine.
            var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var senders = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
            {
                for (var i = worker; i < users.Count; i += 16)
                {
                    if (acknowledged.Count >= Events / 3) await killed.Task;
                    if (killed.Task.IsCompleted) return;
                    try
                    {
                        var response = await first.Http.SendAsync(Deliver(users[i], messageIds[users[i]]));
                        if (response.StatusCode == HttpStatusCode.OK) acknowledged.Add(users[i]);
                    }
                    catch (HttpRequestException)
                    {
                        return; // the process is gone
                    }
                    catch (TaskCanceledException)
                    {
                        return;
                    }
                }
            })).ToList();

            // Kill it once a third is acknowledged.
            while (acknowledged.Count < Events / 3 && senders.Any(s => !s.IsCompleted)) await Task.Delay(5);
            await first.KillAsync();
            killed.SetResult();
            await Task.WhenAll(senders);
        }
        acknowledged.Count.ShouldBeGreaterThanOrEqualTo(Events / 3);
        acknowledged.Count.ShouldBeLessThan(Events, "the kill came before the flood ended");

        using (var second = await StartAsync())
        {
            // Every delivery again, 16 at a time (what is checked here is each answer, not the load): all 300 at
            // once could keep some waiting longer than any client timeout on a loaded machine.
            var again = new ConcurrentBag<(string User, bool Duplicate)>();
            await Parallel.ForEachAsync(users, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (u, _) =>
            {
                var response = await second.Http.SendAsync(Deliver(u, messageIds[u]));
                response.StatusCode.ShouldBe(HttpStatusCode.OK);
                again.Add((u, (await response.JsonAsync()).GetProperty("duplicate").GetBoolean()));
            });
            foreach (var user in acknowledged)
                again.Single(r => r.User == user).Duplicate.ShouldBeTrue($"{user} was acknowledged before the kill, so it must have been stored");
            await second.KillAsync();
        }

        await using var connection = await App.OpenAsync();
        foreach (var user in users)
        {
            (await connection.ExecuteScalarAsync<long>("select count(*) from webhook_events where provider = 'clerk' and event_id = @id and status = 'processed'",
                new { id = messageIds[user] })).ShouldBe(1);
            (await connection.ExecuteScalarAsync<long>("select count(*) from organizations where external_id = @user", new { user })).ShouldBe(1);
        }
    }

    private static HttpRequestMessage Deliver(string user, string messageId) =>
        Deliveries.Clerk(messageId, $$$"""{"type":"user.created","object":"event","timestamp":1716883200000,"data":{"id":"{{{user}}}","object":"user","first_name":"Crash","last_name":"Test","email_addresses":[]} }""", DateTimeOffset.UtcNow);

    private Task<RunningService> StartAsync() =>
        ServiceProcess.StartListeningAsync(App, new Dictionary<string, string> { ["Clerk__WebhookSecret"] = Deliveries.ClerkSecret });
}

public sealed class WebhookCrashTestsOnSqlite(SqliteApp<DefaultSetup> app) : WebhookCrashTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class WebhookCrashTestsOnPostgres(PostgresApp<DefaultSetup> app) : WebhookCrashTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
