namespace Backstop.Features.Billing.Dunning;

/// <summary>What the dunning handlers read of a Stripe invoice event (<c>invoice.*</c>).</summary>
/// <param name="SubscriptionId">The invoice's subscription: <c>parent.subscription_details.subscription</c> (API
/// 2025-03-31 and later), else the top-level <c>subscription</c> of older endpoint versions; null for an invoice
/// that belongs to no subscription.</param>
/// <param name="AttemptCount">Stripe's <c>attempt_count</c>: which payment attempt of the invoice this is (1 for the first).</param>
/// <param name="Created">The event's <c>created</c>: when Stripe saw the attempt fail (or the invoice paid).</param>
internal sealed record StripeInvoice(
    string EventId,
    string InvoiceId,
    string? SubscriptionId,
    string? CustomerId,
    int AttemptCount,
    long? AmountDue,
    string? Currency,
    string? HostedInvoiceUrl,
    DateTimeOffset? NextPaymentAttempt,
    DateTimeOffset? Created);

/// <summary>What the dispute handler reads of a <c>charge.dispute.*</c> event.</summary>
/// <param name="CustomerId">The charge's customer, when the event carries the charge expanded (or a <c>customer</c> of its own).</param>
internal sealed record StripeDispute(
    string EventId,
    string DisputeId,
    string? ChargeId,
    string? CustomerId,
    long Amount,
    string Currency,
    string? Reason,
    string Status,
    DateTimeOffset? OpenedAt,
    DateTimeOffset? Created);

/// <summary>
/// Reads Stripe events with System.Text.Json rather than Stripe.net's model: the endpoint's API version is chosen in
/// Stripe's dashboard, so a field may sit where an older or newer version puts it, an id may come expanded into an
/// object, and a missing field must not fail the event.
/// </summary>
internal static class StripeObjects
{
    /// <summary>The invoice of the event, or null when the body is not an invoice event with an id.</summary>
    public static StripeInvoice? Invoice(string payload)
    {
        using var document = Parse(payload);
        if (document is null || !TryObject(document.RootElement, out var root, out var invoice)) return null;
        var id = Id(invoice);
        if (id is null) return null;
        var parent = Child(invoice, "parent");
        var details = Child(parent, "subscription_details");
        var subscription = Reference(details, "subscription") ?? Reference(invoice, "subscription");
        var attempt = Long(invoice, "attempt_count") is { } a and > 0 and < int.MaxValue ? (int)a : 1;
        return new StripeInvoice(Str(root, "id") ?? "", id, subscription, Reference(invoice, "customer"), attempt,
            Long(invoice, "amount_due"), Str(invoice, "currency")?.ToLowerInvariant(), Str(invoice, "hosted_invoice_url"),
            Time(invoice, "next_payment_attempt"), Time(root, "created"));
    }

    /// <summary>The dispute of the event, or null when the body is not a dispute event with an id.</summary>
    public static StripeDispute? Dispute(string payload)
    {
        using var document = Parse(payload);
        if (document is null || !TryObject(document.RootElement, out var root, out var dispute)) return null;
        var id = Id(dispute);
        if (id is null) return null;
        var charge = Child(dispute, "charge");
        var customer = Reference(charge, "customer") ?? Reference(dispute, "customer");
        return new StripeDispute(Str(root, "id") ?? "", id, Reference(dispute, "charge"), customer, Long(dispute, "amount") ?? 0,
            Str(dispute, "currency")?.ToLowerInvariant() ?? "", Str(dispute, "reason"), Str(dispute, "status") ?? "unknown",
            Time(dispute, "created"), Time(root, "created"));
    }

    private static JsonDocument? Parse(string payload)
    {
        try
        {
            return JsonDocument.Parse(payload);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool TryObject(JsonElement root, out JsonElement rootObject, out JsonElement dataObject)
    {
        rootObject = root;
        dataObject = default;
        if (root.ValueKind != JsonValueKind.Object) return false;
        dataObject = Child(Child(root, "data"), "object");
        return dataObject.ValueKind == JsonValueKind.Object;
    }

    private static string? Id(JsonElement element) => Str(element, "id");

    private static JsonElement Child(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : default;

    /// <summary>An id field that Stripe sends as a string, or as the object itself when expanded.</summary>
    private static string? Reference(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString() is { Length: > 0 } s ? s : null,
            JsonValueKind.Object => Id(v),
            _ => null,
        };
    }

    private static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    private static long? Long(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

    private static DateTimeOffset? Time(JsonElement element, string name) =>
        Long(element, name) is { } seconds and > 0 and < 253402300799 ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;
}
