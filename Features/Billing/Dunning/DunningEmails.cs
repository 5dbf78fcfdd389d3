using System.Globalization;
using System.Net;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.Dunning;

/// <summary>Which dunning email a failed attempt gets, by the subscription's retry count after it.</summary>
internal enum DunningStage
{
    First,
    Second,
    Final,
}

/// <summary>The emails of dunning, grace expiry, payment confirmation and disputes (rendered before enqueueing).</summary>
internal static class DunningEmails
{
    public const string FirstSubject = "Payment failed for your Backstop subscription";
    public const string SecondSubject = "Second notice: payment failed again for your Backstop subscription";
    public const string FinalSubject = "Final notice: your Backstop subscription will be suspended";
    public const string ActionRequiredSubject = "Your payment for Backstop needs your confirmation";
    public const string SuspendedSubject = "Your Backstop subscription is suspended";

    public static DunningStage StageOf(int retryCount) => retryCount switch
    {
        <= 1 => DunningStage.First,
        2 => DunningStage.Second,
        _ => DunningStage.Final,
    };

    public static EmailContent PaymentFailed(DunningStage stage, StripeInvoice invoice, DateTimeOffset? graceEndsAt, string? updatePaymentUrl)
    {
        var amount = Money(invoice.AmountDue, invoice.Currency);
        var subject = stage switch
        {
            DunningStage.First => FirstSubject,
            DunningStage.Second => SecondSubject,
            _ => FinalSubject,
        };
        var opening = stage switch
        {
            DunningStage.First => $"We could not collect the payment of {amount} for invoice {invoice.InvoiceId}.",
            DunningStage.Second => $"The payment of {amount} for invoice {invoice.InvoiceId} failed again.",
            _ => $"The payment of {amount} for invoice {invoice.InvoiceId} has failed {invoice.AttemptCount} times. This is the final notice.",
        };
        var grace = graceEndsAt is { } end
            ? $"Until the payment succeeds, nothing new (meetings, recordings) can be created; everything else keeps working. If it is still unpaid on {When(end)}, the subscription is suspended."
            : "Creating meetings and recordings is paused until the payment succeeds.";
        var update = updatePaymentUrl is null
            ? "Please update your payment method."
            : $"Please update your payment method: {updatePaymentUrl}";
        var text = $"{opening}\n\n{grace}\n\n{update}\n";
        var html = $"<p>{Html(opening)}</p><p>{Html(grace)}</p><p>{Link("Update your payment method", updatePaymentUrl, update)}</p>";
        return new EmailContent(subject, text, html);
    }

    public static EmailContent ActionRequired(StripeInvoice invoice)
    {
        var amount = Money(invoice.AmountDue, invoice.Currency);
        var opening = $"Your bank asks you to confirm the payment of {amount} for invoice {invoice.InvoiceId}.";
        var action = invoice.HostedInvoiceUrl is { } url ? $"Confirm it here: {url}" : "Confirm it from your invoice.";
        return new EmailContent(ActionRequiredSubject, $"{opening}\n\n{action}\n",
            $"<p>{Html(opening)}</p><p>{Link("Confirm the payment", invoice.HostedInvoiceUrl, action)}</p>");
    }

    public static EmailContent Suspended(DateTimeOffset graceEndsAt, string? updatePaymentUrl)
    {
        var opening = $"The payment for your Backstop subscription was not made by the end of its grace period ({When(graceEndsAt)}), so the subscription is suspended: meetings and recordings can be read, nothing new can be created or started.";
        var update = updatePaymentUrl is null
            ? "Update your payment method to restore it."
            : $"Update your payment method to restore it: {updatePaymentUrl}";
        return new EmailContent(SuspendedSubject, $"{opening}\n\n{update}\n",
            $"<p>{Html(opening)}</p><p>{Link("Update your payment method", updatePaymentUrl, update)}</p>");
    }

    public static EmailContent Dispute(StripeDispute dispute, bool closed, string? organizationId)
    {
        var amount = Money(dispute.Amount, dispute.Currency);
        var subject = closed
            ? $"Dispute {dispute.DisputeId} closed: {dispute.Status}"
            : $"A payment of {amount} was disputed ({dispute.Reason ?? "no reason given"})";
        var lines = new List<string>
        {
            closed
                ? $"The dispute {dispute.DisputeId} over {amount} is closed with status {dispute.Status}."
                : $"A customer disputed a payment of {amount}. Reason: {dispute.Reason ?? "none given"}. Status: {dispute.Status}.",
            $"Dispute: {dispute.DisputeId}; charge: {dispute.ChargeId ?? "unknown"}; organization: {organizationId ?? "unknown"}.",
        };
        if (!closed) lines.Add("Respond with evidence in the Stripe dashboard before the deadline Stripe shows.");
        return new EmailContent(subject, string.Join("\n\n", lines) + "\n", string.Concat(lines.Select(l => $"<p>{Html(l)}</p>")));
    }

    /// <summary>
    /// An amount in minor units as people read it: <c>49.00 USD</c>, <c>5,000 JPY</c>. Stripe's amounts are in the
    /// currency's smallest unit, which is not always a hundredth (zero- and three-decimal currencies).
    /// </summary>
    public static string Money(long? minor, string? currency)
    {
        var code = string.IsNullOrWhiteSpace(currency) ? "" : currency.Trim().ToUpperInvariant();
        if (minor is not { } value) return code.Length == 0 ? "the amount due" : $"the amount due in {code}";
        var decimals = code switch
        {
            "BIF" or "CLP" or "DJF" or "GNF" or "JPY" or "KMF" or "KRW" or "MGA" or "PYG" or "RWF" or "UGX" or "VND" or "VUV" or "XAF" or "XOF" or "XPF" => 0,
            "BHD" or "JOD" or "KWD" or "OMR" or "TND" => 3,
            _ => 2,
        };
        var major = value / (decimal)Math.Pow(10, decimals);
        var formatted = major.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        return code.Length == 0 ? formatted : $"{formatted} {code}";
    }

    public static string When(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static string Html(string text) => WebUtility.HtmlEncode(text);

    private static string Link(string label, string? url, string fallback) =>
        url is null ? Html(fallback) : $"<a href=\"{WebUtility.HtmlEncode(url)}\">{Html(label)}</a> ({Html(url)})";
}
