using System.Net;
using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Providers.Paddle;

namespace Backstop.Features.Billing;

/// <summary>
/// What follows a <c>paddle</c> message that does not go through: Paddle refused it for good (dead) → the operator
/// (<c>Billing:AlertEmail</c>) is alerted and an error logged; it has failed transiently for more than
/// <see cref="AlertAfter"/> (Paddle down, or no <c>Paddle:ApiKey</c>) → the same, once per message; it keeps being retried.
/// The deleted organization's owners are not written to: they can do nothing about it.
/// </summary>
internal sealed class PaddleCallFailures(IOutbox outbox, IOptions<BillingOptions> options, TimeProvider time, ILogger<PaddleCallFailures> log) : IOutboxListener
{
    public static readonly TimeSpan AlertAfter = TimeSpan.FromHours(1);

    public async Task OnRetryingAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != OutboxPaddle.Channel || time.GetUtcNow() - message.CreatedAt < AlertAfter) return;
        var command = message.PayloadAs<PaddleCommand>();
        var stored = await AlertAsync(connection, transaction, $"paddle-call-stuck:{message.Id}",
            $"Billing: cancelling Paddle subscription {command.SubscriptionId} has failed for {(time.GetUtcNow() - message.CreatedAt).TotalMinutes:0} minutes",
            $"Cancelling Paddle subscription {command.SubscriptionId} (its organization was deleted) has failed since {message.CreatedAt:yyyy-MM-dd HH:mm} UTC " +
            $"({message.Attempts} attempts; last error: {result.Error}). It keeps being retried until Paddle confirms it; until then Paddle may still charge it.",
            command.SubscriptionId, ct);
        if (stored > 0)
            log.LogError("Paddle call {Key} for subscription {SubscriptionId} has failed for more than {Minutes} minutes; alerted ({Error})",
                message.IdempotencyKey, command.SubscriptionId, AlertAfter.TotalMinutes, result.Error);
    }

    public async Task OnFinishedAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != OutboxPaddle.Channel || result.Outcome == DeliveryOutcome.Sent) return;
        var command = message.PayloadAs<PaddleCommand>();
        await AlertAsync(connection, transaction, $"paddle-call-refused:{message.Id}",
            $"Billing: Paddle refused to cancel subscription {command.SubscriptionId}",
            $"Paddle refused to cancel subscription {command.SubscriptionId} (its organization was deleted): {result.Error}. " +
            "Cancel it in Paddle's dashboard: until then Paddle may still charge it. The outbox message can be retried (POST /v1/admin/outbox/{id}/retry).",
            command.SubscriptionId, ct);
        log.LogError("Paddle refused to cancel subscription {SubscriptionId} of a deleted organization: {Error}; alerted", command.SubscriptionId, result.Error);
    }

    /// <summary>Emails <c>Billing:AlertEmail</c> (when set) through the outbox in the caller's transaction; answers how many messages were new.</summary>
    public static async Task<int> AlertOperatorAsync(IOutbox outbox, BillingOptions options, DbConnection connection, DbTransaction transaction, string key,
        string subject, string text, string reference, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(options.AlertEmail)) return 0;
        var content = new EmailContent(subject, text, $"<p>{WebUtility.HtmlEncode(text)}</p>");
        var messages = BillingNotices.To([options.AlertEmail], key, content, reference).ToList();
        return await outbox.EnqueueManyAsync(connection, transaction, messages, ct);
    }

    private Task<int> AlertAsync(DbConnection connection, DbTransaction transaction, string key, string subject, string text, string reference, CancellationToken ct) =>
        AlertOperatorAsync(outbox, options.Value, connection, transaction, key, subject, text, reference, ct);
}
