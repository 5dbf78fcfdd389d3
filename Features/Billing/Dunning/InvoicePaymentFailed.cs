using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Stripe's <c>invoice.payment_failed</c>, in the inbox's transaction. A failed attempt is counted once per
/// (invoice, <c>attempt_count</c>): the inbox drops a redelivered event, and <c>billing_payment_failures</c>' unique
/// index drops the same attempt reported under another event id, so the retry count, the grace end and the email
/// all follow the attempt, not the deliveries. The first failure sets the grace end (event time +
/// <c>Billing:GraceDays</c>); later ones keep it. The owners get the first, second or final dunning email by the
/// retry count, keyed <c>dunning:{invoice}:{attempt}:{recipient}</c>.
/// </summary>
/// <remarks>
/// An event that names no subscription, or one Backstop does not know (another system's customer on the same Stripe
/// account, or a subscription deleted here), is logged and left handled: retrying it would never find more. A
/// failure of an invoice already seen paid (a late event) is recorded and changes nothing.
/// </remarks>
internal sealed class InvoicePaymentFailed(BillingNotices notices, IOptions<BillingOptions> options, BillingEvents billingEvents, TimeProvider time, ILogger<InvoicePaymentFailed> log)
    : IWebhookHandler
{
    public string Provider => DunningSql.Provider;

    public bool Handles(string eventType) => eventType == "invoice.payment_failed";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        if (await InvoiceEvents.FindAsync(context, log, ct) is not (var invoice, var subscription)) return;

        var now = time.GetUtcNow();
        // The attempt failed when Stripe says so; a clock ahead of ours never moves the grace end into the future.
        var failedAt = invoice.Created is { } created && created < now ? created : now;
        var recorded = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(DunningSql.RecordFailure, new
        {
            // SQLite binds parameter names case-sensitively: every name is spelled as in the statement.
            id = Ids.New(time), provider = DunningSql.Provider, invoiceId = invoice.InvoiceId, attempt = invoice.AttemptCount,
            subscriptionId = subscription.Id, organizationId = subscription.OrganizationId, eventId = invoice.EventId,
            amountDue = invoice.AmountDue, currency = invoice.Currency, failedAt, now,
        }, tx, cancellationToken: ct));
        if (recorded is null)
        {
            log.LogInformation("Attempt {Attempt} of invoice {InvoiceId} was already counted (event {EventId}); nothing more done",
                invoice.AttemptCount, invoice.InvoiceId, invoice.EventId);
            return;
        }
        if (await connection.ExecuteScalarAsync<long>(new CommandDefinition(DunningSql.InvoicePaidBefore,
                new { provider = DunningSql.Provider, invoiceId = invoice.InvoiceId }, tx, cancellationToken: ct)) > 0)
        {
            log.LogInformation("Attempt {Attempt} of invoice {InvoiceId} failed, but the invoice is already paid (a late event); recorded only",
                invoice.AttemptCount, invoice.InvoiceId);
            return;
        }

        var o = options.Value;
        var applied = await connection.QuerySingleOrDefaultAsync<FailureApplied>(new CommandDefinition(DunningSql.ApplyFailure,
            new { id = subscription.Id, invoiceId = invoice.InvoiceId, graceEndsAt = failedAt.AddDays(o.GraceDays), failedAt, now }, tx, cancellationToken: ct));
        if (applied is null)
        {
            log.LogInformation("Invoice {InvoiceId} of the {Status} subscription {SubscriptionId} failed; recorded only", invoice.InvoiceId,
                subscription.Status, subscription.Id);
            return;
        }

        await billingEvents.AfterAsync(connection, tx, subscription, ct);
        var stage = DunningEmails.StageOf(applied.PaymentRetryCount);
        var content = DunningEmails.PaymentFailed(stage, invoice, applied.GraceEndsAt, UpdateUrl(o));
        await notices.ToOwnersAsync(connection, tx, subscription.OrganizationId,
            $"dunning:{invoice.InvoiceId}:{invoice.AttemptCount.ToString(System.Globalization.CultureInfo.InvariantCulture)}", content, subscription.Id, ct);
        log.LogWarning("Payment attempt {Attempt} of invoice {InvoiceId} failed: subscription {SubscriptionId} of organization {OrganizationId} is {Status} (retry {RetryCount}, grace until {GraceEndsAt})",
            invoice.AttemptCount, invoice.InvoiceId, subscription.Id, subscription.OrganizationId, applied.Status, applied.PaymentRetryCount, applied.GraceEndsAt);
    }

    internal static string? UpdateUrl(BillingOptions o) => string.IsNullOrWhiteSpace(o.UpdatePaymentUrl) ? null : o.UpdatePaymentUrl.Trim();
}
