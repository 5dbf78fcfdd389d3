using Backstop.Infrastructure.Providers.Recall;

namespace Backstop.Infrastructure.Outbox.Recall;

internal static class OutboxRecall
{
    public const string Channel = "recall";

    /// <summary>The one "send the bot away" command (older rows may say <c>leave_call</c>: the same thing).</summary>
    public const string StopKind = "stop";
    public const string LeaveCallKind = "leave_call";

    /// <summary>
    /// Sends the bot away, whatever its state: a scheduled bot not yet dispatched is deleted, any other is told to
    /// leave, and one that has not joined yet is told again, with backoff, until it has joined or finished.
    /// <paramref name="cause"/> names the request that asks for it (a stop, a delete, a sweep run, a webhook
    /// delivery), so every request is sent: a later one is never swallowed by an earlier one for the same bot.
    /// </summary>
    public static OutboxEnvelope Stop(string botId, string? reference, string cause) =>
        OutboxEnvelope.Create(Channel, $"recall:stop:{botId}:{cause}", new RecallCommand(StopKind, botId), reference);

    /// <summary>Kept for callers of the earlier API: now the same as <see cref="Stop"/>, caused by the bot itself (one per bot).</summary>
    public static OutboxEnvelope LeaveCall(string botId, string? reference = null) => Stop(botId, reference, "bot");
}
