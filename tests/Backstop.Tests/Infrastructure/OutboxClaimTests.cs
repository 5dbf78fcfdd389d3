using System.Collections.Concurrent;
using System.Data.Common;
using Backstop.Infrastructure.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>
/// A channel with at most 2 deliveries in flight per target. Deliveries to the target "slow" wait until the test
/// releases them; deliveries of messages other than "hold" wait until the listener has entered the result of "hold".
/// </summary>
internal sealed class CappedChannel : IOutboxChannel
{
    private readonly ConcurrentDictionary<string, int> inFlight = new();

    public string Name => "capped";
    public int? MaxInFlightPerTarget => 2;
    public ConcurrentQueue<string> Delivered { get; } = new();
    public ConcurrentDictionary<string, int> MostInFlight { get; } = new();
    public TaskCompletionSource ReleaseSlow { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource HoldEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var target = message.PayloadAs<Body>().Target;
        var now = inFlight.AddOrUpdate(target, 1, (_, n) => n + 1);
        MostInFlight.AddOrUpdate(target, now, (_, n) => Math.Max(n, now));
        try
        {
            if (target == "slow") await ReleaseSlow.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
            if (target == "group" && message.Reference != "hold") await HoldEntered.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
            Delivered.Enqueue(message.Id);
            return DeliveryResult.Sent();
        }
        finally
        {
            inFlight.AddOrUpdate(target, 0, (_, n) => n - 1);
        }
    }

    public sealed record Body(string Target);
}

/// <summary>Holds the transaction that records "hold" until the other results wait for the next group; fails on "poison".</summary>
internal sealed class GroupListener(CappedChannel channel, IServiceProvider services) : IOutboxListener
{
    public async Task OnFinishedAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != "capped") return;
        if (message.Reference == "poison") throw new InvalidOperationException("poison");
        if (message.Reference != "hold") return;
        channel.HoldEntered.TrySetResult();
        var dispatcher = services.GetRequiredService<OutboxDispatcher>();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (dispatcher.ResultsWaiting < 9)
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("the other results never queued");
            await Task.Delay(10, CancellationToken.None);
        }
    }
}

public abstract class OutboxClaimTests(BackstopFactory app) : AppTest(app)
{
    // The group test's messages have no target (one lane, no limit): all ten are claimed at once.
    private Task<EnqueueResult> EnqueueAsync(string target, string? reference = null) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t,
            OutboxEnvelope.Create("capped", "claim-" + Guid.NewGuid().ToString("N"), new CappedChannel.Body(target), reference)
                with { Target = target == "group" ? null : target },
            CancellationToken.None));

    private OutboxDispatcher OtherInstance() => ActivatorUtilities.CreateInstance<OutboxDispatcher>(App.Services);

    private async Task<(string Status, int Attempts)> StateAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string, int)>("select status, attempts from outbox_messages where id = @id", new { id });
    }

    [Fact]
    public async Task A_target_at_its_limit_keeps_its_further_messages_unclaimed_on_every_instance_while_other_targets_are_served()
    {
        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None); // nothing else due
        var channel = App.Service<CappedChannel>();
        var slow = new List<string>();
        for (var i = 0; i < 5; i++) slow.Add((await EnqueueAsync("slow")).Id);
        var fast = new List<string>();
        for (var i = 0; i < 6; i++) fast.Add((await EnqueueAsync("fast-" + (i % 3))).Id);

        var first = Task.Run(() => App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None));
        // Every fast target's messages are delivered while two deliveries to "slow" wait.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (fast.Any(id => !channel.Delivered.Contains(id)))
        {
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60), "the other targets' messages were not delivered");
            await Task.Delay(10);
        }
        var states = new List<(string Status, int Attempts)>();
        foreach (var id in slow) states.Add(await StateAsync(id));
        states.Count(s => s.Status == OutboxStatus.Sending).ShouldBe(2);
        states.Where(s => s.Status == OutboxStatus.Pending).ShouldAllBe(s => s.Attempts == 0);

        // Another instance claims none of them either: the limit counts the target's messages being sent anywhere.
        (await OtherInstance().DispatchDueAsync(CancellationToken.None)).ShouldBe(0);
        foreach (var id in slow) (await StateAsync(id)).Attempts.ShouldBeLessThanOrEqualTo(1);

        channel.ReleaseSlow.SetResult();
        await first;
        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        foreach (var id in slow.Concat(fast)) (await StateAsync(id)).ShouldBe((OutboxStatus.Sent, 1));
        channel.MostInFlight["slow"].ShouldBe(2);
        await using var connection = await App.OpenAsync();
        (await connection.QueryAsync<string>("select a.outcome from outbox_attempts a join outbox_messages m on m.id = a.message_id where m.channel = 'capped'"))
            .ShouldAllBe(o => o == "sent");
    }

    [Fact]
    public async Task A_result_that_cannot_be_recorded_does_not_lose_the_results_committed_in_its_group()
    {
        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        var hold = await EnqueueAsync("group", "hold");
        var poison = await EnqueueAsync("group", "poison");
        var others = new List<string>();
        for (var i = 0; i < 8; i++) others.Add((await EnqueueAsync("group")).Id);

        // "hold" is recorded first, alone; its transaction waits until the 9 other results wait for the next group,
        // whose transaction then fails on "poison": each of the 9 is recorded again on its own.
        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

        (await StateAsync(hold.Id)).ShouldBe((OutboxStatus.Sent, 1));
        foreach (var id in others) (await StateAsync(id)).ShouldBe((OutboxStatus.Sent, 1));
        // The poisoned result is not recorded: the message keeps its claim until the lease expires, then goes again.
        (await StateAsync(poison.Id)).ShouldBe((OutboxStatus.Sending, 1));
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from outbox_attempts where message_id = @Id", new { poison.Id })).ShouldBe(0);
    }
}

public sealed class OutboxClaimTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Outbox:Parallelism"] = "16";
        settings["Outbox:BatchSize"] = "16";
        settings["Outbox:PollIntervalMilliseconds"] = "50";
    }

    public override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<CappedChannel>();
        services.AddSingleton<IOutboxChannel>(sp => sp.GetRequiredService<CappedChannel>());
        services.AddSingleton<IOutboxListener, GroupListener>();
    }
}

public sealed class OutboxClaimTestsOnSqlite(SqliteApp<OutboxClaimTestsSetup> app) : OutboxClaimTests(app), IClassFixture<SqliteApp<OutboxClaimTestsSetup>>;

public sealed class OutboxClaimTestsOnPostgres(PostgresApp<OutboxClaimTestsSetup> app) : OutboxClaimTests(app), IClassFixture<PostgresApp<OutboxClaimTestsSetup>>;
