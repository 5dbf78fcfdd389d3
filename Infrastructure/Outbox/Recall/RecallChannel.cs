using Backstop.Infrastructure.Providers.Recall;

namespace Backstop.Infrastructure.Outbox.Recall;

/// <summary>What the <c>recall</c> channel stores: one command for one bot.</summary>
internal sealed record RecallCommand(string Kind, string BotId);

/// <summary>
/// Recall commands that must happen even if the caller's request is gone: retried by the outbox until Recall confirms.
/// A stop is <c>DELETE /api/v1/bot/{id}/</c> (cancels a scheduled bot; 404 = already gone); on 405 (dispatched) it is
/// <c>leave_call</c>, where <c>cannot_command_completed_bot</c> is success and <c>cannot_command_unstarted_bot</c>
/// (not joined yet) is tried again later, never taken as success.
/// </summary>
internal sealed class RecallChannel(RecallClient recall) : IOutboxChannel
{
    /// <summary>How long to wait before telling a bot that has not joined yet to leave again (the outbox's backoff grows from there).</summary>
    public static readonly TimeSpan NotJoinedRetry = TimeSpan.FromSeconds(30);

    public string Name => OutboxRecall.Channel;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var command = message.PayloadAs<RecallCommand>();
        if (command.Kind is not (OutboxRecall.StopKind or OutboxRecall.LeaveCallKind)) return DeliveryResult.Permanent($"Unknown Recall command '{command.Kind}'.");
        var deleted = await recall.DeleteBotAsync(command.BotId, ct);
        if (deleted.Ok) return DeliveryResult.Sent("deleted " + command.BotId);
        if (deleted.Failure!.Status != 405) return Failed(deleted.Failure);

        var left = await recall.LeaveCallAsync(command.BotId, ct);
        if (left.Ok) return DeliveryResult.Sent("left " + command.BotId);
        if (left.Failure!.Code == RecallClient.CannotCommandUnstartedBot)
            return DeliveryResult.Transient("The bot has not joined the call yet; it is told to leave again once it has.", NotJoinedRetry);
        return Failed(left.Failure);
    }

    private static DeliveryResult Failed(RecallFailure failure) =>
        failure.Transient ? DeliveryResult.Transient(failure.Message, failure.RetryAfter) : DeliveryResult.Permanent(failure.Message);
}
