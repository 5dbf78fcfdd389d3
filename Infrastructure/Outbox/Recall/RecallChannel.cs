using Backstop.Infrastructure.Providers.Recall;

namespace Backstop.Infrastructure.Outbox.Recall;

/// <summary>What the <c>recall</c> channel stores: one command for one bot.</summary>
internal sealed record RecallCommand(string Kind, string BotId);

internal static class OutboxRecall
{
    public const string Channel = "recall";
    public const string LeaveCallKind = "leave_call";

    /// <summary>
    /// Sends the bot away. Keyed by the bot alone: however many reasons ask for it (a stop, a delete, a compensation,
    /// a webhook for a bot nobody owns), one message goes out per bot.
    /// </summary>
    public static OutboxEnvelope LeaveCall(string botId, string? reference = null) =>
        OutboxEnvelope.Create(Channel, $"recall:leave_call:{botId}", new RecallCommand(LeaveCallKind, botId), reference);
}

/// <summary>Recall commands that must happen even if the caller's request is gone: retried by the outbox until Recall confirms.</summary>
internal sealed class RecallChannel(RecallClient recall) : IOutboxChannel
{
    public string Name => OutboxRecall.Channel;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var command = message.PayloadAs<RecallCommand>();
        if (command.Kind != OutboxRecall.LeaveCallKind) return DeliveryResult.Permanent($"Unknown Recall command '{command.Kind}'.");
        var result = await recall.LeaveCallAsync(command.BotId, ct);
        if (result.Ok) return DeliveryResult.Sent(command.BotId);
        var failure = result.Failure!;
        return failure.Transient ? DeliveryResult.Transient(failure.Message, failure.RetryAfter) : DeliveryResult.Permanent(failure.Message);
    }
}
