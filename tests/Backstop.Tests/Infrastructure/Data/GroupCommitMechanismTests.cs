namespace Backstop.Tests.Infrastructure.Data;

/// <summary>
/// The shared group-commit mechanism on its own (its users, the inbox and quota, have their behaviour tests): batches
/// are cut by weight without splitting a request, every request is completed by its batch, and a request submitted
/// after the writer stopped fails at once instead of waiting for ever.
/// </summary>
public sealed class GroupCommitMechanismTests
{
    internal sealed record Request(string Name, int Weight) : IGroupCommitRequest<int>
    {
        public TaskCompletionSource<int> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        int IGroupCommitRequest<int>.Weight => Weight;
    }

    private sealed class Recorder : GroupCommit<Request, int>
    {
        public List<string[]> Batches { get; } = [];

        protected override int MaxBatch => 3;

        public Task<int> SubmitAsync(Request request) => EnqueueAsync(request);

        protected override Task CommitAsync(List<Request> batch)
        {
            Batches.Add([.. batch.Select(r => r.Name)]);
            foreach (var request in batch) request.Done.TrySetResult(Batches.Count);
            return Task.CompletedTask;
        }

        protected override Exception Stopped() => new OperationCanceledException("stopped");
    }

    [Fact]
    public async Task A_batch_is_cut_by_weight_and_never_splits_a_request()
    {
        var writer = new Recorder();
        // Queued before the writer starts, so the batches do not depend on timing.
        var answers = new[] { new Request("a", 1), new Request("b", 2), new Request("c", 2), new Request("d", 1), new Request("e", 1) }
            .Select(writer.SubmitAsync).ToList();
        await writer.StartAsync(CancellationToken.None);
        var batches = await Task.WhenAll(answers).WaitAsync(TimeSpan.FromSeconds(30));
        await writer.StopAsync(CancellationToken.None);

        writer.Batches.ShouldBe([["a", "b"], ["c", "d"], ["e"]]);
        batches.ShouldBe([1, 1, 2, 2, 3]);
    }

    [Fact]
    public async Task A_request_submitted_after_the_writer_stopped_fails_at_once()
    {
        var writer = new Recorder();
        await writer.StartAsync(CancellationToken.None);
        await writer.StopAsync(CancellationToken.None);

        var late = writer.SubmitAsync(new Request("late", 1));

        late.IsFaulted.ShouldBeTrue();
        (await Should.ThrowAsync<OperationCanceledException>(late)).Message.ShouldBe("stopped");
        writer.Batches.ShouldBeEmpty();
    }
}
