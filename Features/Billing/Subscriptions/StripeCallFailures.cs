using Backstop.Features.ApiKeys;
using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// What follows a <c>stripe</c> message that does not go through. The channel mutates provider state, so a transient
/// failure (5xx, timeout, connection refused) is retried for as long as it takes and the local flag stays as requested;
/// once a message has failed for <see cref="AlertAfter"/>, <c>Billing:AlertEmail</c> and the organization's owners are
/// alerted, once per message. A cancel or resume Stripe refuses for good (a 4xx other than 409/429) is the one case
/// where the local flag is put back — only if no later request followed (the request counter still matches), with an
/// audit row and the same alert, never silently — in the transaction that records the failure.
/// </summary>
internal sealed class StripeCallFailures(IOutbox outbox, IOrganizationDirectory directory, IAuditLog audit, IOptions<BillingOptions> options,
    TimeProvider time, ILogger<StripeCallFailures> log) : IOutboxListener
{
    public static readonly TimeSpan AlertAfter = TimeSpan.FromHours(1);

    public async Task OnRetryingAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != OutboxStripe.Channel || time.GetUtcNow() - message.CreatedAt < AlertAfter) return;
        var command = message.PayloadAs<StripeCommand>();
        var organizationId = await OrganizationAsync(connection, transaction, command.SubscriptionId, ct);
        var content = new EmailContent($"Billing: a change could not reach Stripe for {(time.GetUtcNow() - message.CreatedAt).TotalMinutes:0} minutes",
            $"The Stripe call \"{Describe(command)}\" for subscription {command.SubscriptionId} has failed since {message.CreatedAt:yyyy-MM-dd HH:mm} UTC " +
            $"({message.Attempts} attempts; last error: {result.Error}). It keeps being retried until Stripe confirms it.",
            $"<p>The Stripe call <b>{System.Net.WebUtility.HtmlEncode(Describe(command))}</b> for subscription {System.Net.WebUtility.HtmlEncode(command.SubscriptionId)} " +
            $"has failed since {message.CreatedAt:yyyy-MM-dd HH:mm} UTC ({message.Attempts} attempts; last error: {System.Net.WebUtility.HtmlEncode(result.Error ?? "")}). " +
            "It keeps being retried until Stripe confirms it.</p>");
        var stored = await AlertAsync(connection, transaction, organizationId, $"stripe-call-stuck:{message.Id}", content, command.SubscriptionId, ct);
        if (stored > 0)
            log.LogError("Stripe call {Key} for subscription {SubscriptionId} has failed for more than {Minutes} minutes; alerted ({Error})",
                message.IdempotencyKey, command.SubscriptionId, AlertAfter.TotalMinutes, result.Error);
    }

    public async Task OnFinishedAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != OutboxStripe.Channel || result.Outcome == DeliveryOutcome.Sent) return;
        var command = message.PayloadAs<StripeCommand>();
        var organizationId = await OrganizationAsync(connection, transaction, command.SubscriptionId, ct);
        var reverted = 0;
        if (command is { Operation: OutboxStripe.UpdateSubscription, CancelAtPeriodEnd: { } cancel }
            && int.TryParse(message.IdempotencyKey[(message.IdempotencyKey.LastIndexOf(':') + 1)..], out var request))
        {
            var row = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                update subscriptions set cancel_at_period_end = @previous, updated_at = @now
                where provider = 'stripe' and provider_subscription_id = @SubscriptionId and cancel_requests = @request and cancel_at_period_end = @cancel
                returning id
                """, new { previous = !cancel, command.SubscriptionId, request, cancel, now = time.GetUtcNow() }, transaction, cancellationToken: ct));
            if (row is not null)
            {
                reverted = 1;
                await audit.RecordAsync(connection, transaction, new AuditEntry(AuditActions.SubscriptionCancelRefused, "subscription", row, organizationId,
                    new { cancelAtPeriodEnd = new { from = cancel, to = !cancel }, stripeError = result.Error }, Actor: "stripe"), ct);
            }
        }
        var content = new EmailContent("Billing: Stripe refused a change",
            $"Stripe refused \"{Describe(command)}\" for subscription {command.SubscriptionId}: {result.Error}." +
            (reverted == 1 ? " The subscription was left as Stripe has it." : ""),
            $"<p>Stripe refused <b>{System.Net.WebUtility.HtmlEncode(Describe(command))}</b> for subscription {System.Net.WebUtility.HtmlEncode(command.SubscriptionId)}: " +
            $"{System.Net.WebUtility.HtmlEncode(result.Error ?? "")}.{(reverted == 1 ? " The subscription was left as Stripe has it." : "")}</p>");
        await AlertAsync(connection, transaction, organizationId, $"stripe-call-refused:{message.Id}", content, command.SubscriptionId, ct);
        log.LogWarning("Stripe refused {Operation} on subscription {SubscriptionId}: {Error}; local flag {Outcome}; alerted",
            command.Operation, command.SubscriptionId, result.Error, reverted == 1 ? "put back" : "left");
    }

    private async Task<int> AlertAsync(DbConnection connection, DbTransaction transaction, string? organizationId, string key, EmailContent content,
        string reference, CancellationToken ct)
    {
        var recipients = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.Value.AlertEmail)) recipients.Add(options.Value.AlertEmail);
        if (organizationId is not null) recipients.AddRange(await directory.NotificationEmailsAsync(connection, transaction, organizationId, null, ct));
        var messages = BillingNotices.To(recipients, key, content, reference).ToList();
        return messages.Count == 0 ? 0 : await outbox.EnqueueManyAsync(connection, transaction, messages, ct);
    }

    private static Task<string?> OrganizationAsync(DbConnection connection, DbTransaction transaction, string subscriptionId, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select organization_id from subscriptions where provider = 'stripe' and provider_subscription_id = @subscriptionId",
            new { subscriptionId }, transaction, cancellationToken: ct));

    private static string Describe(StripeCommand command) => command switch
    {
        { Operation: OutboxStripe.UpdateSubscription, CancelAtPeriodEnd: true } => "cancel at period end",
        { Operation: OutboxStripe.UpdateSubscription, CancelAtPeriodEnd: false } => "resume (undo the cancellation)",
        { Operation: OutboxStripe.CancelSubscription } => "cancel now",
        { Operation: OutboxStripe.ReleaseSchedule } => $"release schedule {command.ScheduleId}",
        _ => command.Operation,
    };
}
