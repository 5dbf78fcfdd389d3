using System.Collections.Concurrent;
using Backstop.Infrastructure.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>A channel whose first delivery of a message marked "slow" waits until the test releases it.</summary>
internal sealed class GateChannel : IOutboxChannel
{
    public ConcurrentQueue<string> Delivered { get; } = new();
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int slowSeen;

    public string Name => "gate";

    public TaskCompletionSource PrepareEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource PrepareRelease { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int prepareSeen;

    /// <summary>Like a send-rate wait: the first preparation of a message marked "waits" blocks until released.</summary>
    public async Task PrepareAsync(OutboxMessage message, CancellationToken ct)
    {
        if (message.Reference == "waits" && Interlocked.Exchange(ref prepareSeen, 1) == 0)
        {
            PrepareEntered.TrySetResult();
            await PrepareRelease.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        }
    }

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        if (message.Reference == "slow" && Interlocked.Exchange(ref slowSeen, 1) == 0)
        {
            Entered.TrySetResult();
            await Release.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        }
        Delivered.Enqueue(message.Id);
        return DeliveryResult.Sent("gate-" + message.Id);
    }
}

public abstract class OutboxLeaseTests(BackstopFactory app) : AppTest(app)
{
    private Task<EnqueueResult> EnqueueAsync(string reference) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t,
            OutboxEnvelope.Create("gate", "lease-" + Guid.NewGuid().ToString("N"), new { n = 1 }, reference), CancellationToken.None));

    // A second dispatcher over the same database: what another instance would run.
    private OutboxDispatcher OtherInstance() => ActivatorUtilities.CreateInstance<OutboxDispatcher>(App.Services);

    [Fact]
    public async Task A_message_waiting_behind_a_slow_delivery_is_sent_once_when_the_lease_runs_out()
    {
        var gate = App.Service<GateChannel>();
        var slow = await EnqueueAsync("slow");
        App.Time.Advance(TimeSpan.FromSeconds(1));
        var waiting = await EnqueueAsync("fast");

        var first = Task.Run(() => App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None));
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The first instance is stuck past its lease; another instance sweeps meanwhile.
        App.Time.Advance(TimeSpan.FromSeconds(130));
        await OtherInstance().DispatchDueAsync(CancellationToken.None);
        gate.Release.SetResult();
        await first;

        gate.Delivered.Count(id => id == waiting.Id).ShouldBe(1);
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<string>("select status from outbox_messages where id = @Id", new { waiting.Id })).ShouldBe("sent");
        (await connection.QuerySingleAsync<string>("select status from outbox_messages where id = @Id", new { slow.Id })).ShouldBe("sent");
    }

    [Fact]
    public async Task A_message_whose_lease_ran_out_while_it_waited_to_be_sent_is_left_to_its_new_claim()
    {
        var gate = App.Service<GateChannel>();
        var message = await EnqueueAsync("waits");

        var first = Task.Run(() => App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None));
        await gate.PrepareEntered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Still waiting (say, for a send-rate permit) when its lease runs out: another instance takes it and sends it.
        App.Time.Advance(TimeSpan.FromSeconds(130));
        await OtherInstance().DispatchDueAsync(CancellationToken.None);
        gate.PrepareRelease.SetResult();
        await first;

        gate.Delivered.Count(id => id == message.Id).ShouldBe(1);
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<string>("select status from outbox_messages where id = @Id", new { message.Id })).ShouldBe("sent");
    }

    [Fact]
    public async Task A_message_whose_last_attempt_outlived_its_lease_is_dead_lettered_not_sent_again()
    {
        var gate = App.Service<GateChannel>();
        var message = await EnqueueAsync("normal");
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync(
                "update outbox_messages set status = 'sending', lease_holder = 'gone', lease_until = @past, attempts = max_attempts where id = @Id",
                new { message.Id, past = App.Time.GetUtcNow().AddSeconds(-1) });

        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

        gate.Delivered.ShouldNotContain(message.Id);
        await using var check = await App.OpenAsync();
        (await check.QuerySingleAsync<string>("select status from outbox_messages where id = @Id", new { message.Id })).ShouldBe("dead");
    }
}

internal static class OutboxLeaseKit
{
    public static void Settings(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Outbox:Parallelism"] = "1";
        settings["Outbox:BatchSize"] = "5";
        settings["Outbox:LeaseSeconds"] = "120";
    }

    public static void Services(IServiceCollection services)
    {
        services.AddSingleton<GateChannel>();
        services.AddSingleton<IOutboxChannel>(sp => sp.GetRequiredService<GateChannel>());
    }
}

public sealed class OutboxLeaseTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => OutboxLeaseKit.Settings(settings);
    public override void ConfigureServices(IServiceCollection services) => OutboxLeaseKit.Services(services);
}

public sealed class OutboxLeaseTestsOnSqlite(SqliteApp<OutboxLeaseTestsSetup> app) : OutboxLeaseTests(app), IClassFixture<SqliteApp<OutboxLeaseTestsSetup>>;

public sealed class OutboxLeaseTestsOnPostgres(PostgresApp<OutboxLeaseTestsSetup> app) : OutboxLeaseTests(app), IClassFixture<PostgresApp<OutboxLeaseTestsSetup>>;
