using System.Net.Sockets;
using Stripe;

namespace Backstop.Infrastructure.Providers.Stripe;

/// <summary>What became of a Stripe call that did not succeed.</summary>
internal enum StripeFailureKind
{
    /// <summary>No answer: the connection failed or broke (Stripe.net reports it as status 0). Transient.</summary>
    Unreachable,

    /// <summary>No answer within <c>Stripe:TimeoutSeconds</c> (the caller did not cancel). Transient.</summary>
    TimedOut,

    /// <summary>Stripe answered 5xx: its side failed. Transient.</summary>
    Failed,

    /// <summary>Stripe answered 409 (a request with the same idempotency key is in flight) or 429 (rate limited). Transient.</summary>
    Busy,

    /// <summary>Stripe refused a charge (<c>card_error</c>). Permanent: the same request is declined again.</summary>
    CardDeclined,

    /// <summary>Stripe answered another 4xx: the request is wrong or refers to what Stripe does not have. Permanent.</summary>
    Refused,
}

/// <summary>A classified Stripe failure: whether to retry, and the words to log or store.</summary>
internal sealed record StripeFailure(StripeFailureKind Kind, int Status, string? Code, string Message)
{
    /// <summary>Whether the same request (with the same idempotency key) can succeed later.</summary>
    public bool Transient => Kind is StripeFailureKind.Unreachable or StripeFailureKind.TimedOut or StripeFailureKind.Failed or StripeFailureKind.Busy;
}

/// <summary>
/// The one policy for Stripe's errors, used by every caller (checkout, plan changes, the Stripe outbox channels, the
/// dispute lookup): what is transient (retry: no answer, a timeout, 5xx, 409, 429 — what Stripe.net itself would retry,
/// plus the rate limit) and what is permanent (every other 4xx: the same request is refused again), and which
/// problem a request's caller sees:
/// <list type="table">
/// <item><term>transient, timed out</term><description>503 <c>stripe_unavailable</c>, <c>Retry-After: 30</c></description></item>
/// <item><term>transient, otherwise</term><description>502 <c>stripe_unavailable</c>, <c>Retry-After: 30</c></description></item>
/// <item><term><c>card_error</c></term><description>402 <c>payment_failed</c></description></item>
/// <item><term>other 4xx</term><description>502 <c>stripe_refused</c> (Stripe's message)</description></item>
/// </list>
/// An outbox channel answers transient failures <see cref="DeliveryResult.Transient"/> (retried with the same key)
/// and permanent ones <see cref="DeliveryResult.Permanent"/>.
/// </summary>
internal static class StripeErrors
{
    /// <summary>How long a caller of the API is told to wait after a transient failure.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether <paramref name="e"/> is the failure of a Stripe call (an error answer, no answer, or a timeout), as opposed
    /// to a bug or the caller's own cancellation (<paramref name="ct"/>), which propagate.
    /// </summary>
    public static bool IsStripeFailure(Exception e, CancellationToken ct) => e switch
    {
        StripeException or HttpRequestException or IOException or SocketException => true,
        OperationCanceledException => !ct.IsCancellationRequested,
        _ => false,
    };

    /// <summary>Classifies a failure <see cref="IsStripeFailure"/> accepted.</summary>
    public static StripeFailure Classify(Exception e) => e switch
    {
        StripeException { HttpStatusCode: 0 } or StripeException { InnerException: HttpRequestException or IOException or SocketException or OperationCanceledException } =>
            new(StripeFailureKind.Unreachable, 0, null, "Stripe could not be reached: " + e.Message),
        StripeException s => FromAnswer(s),
        OperationCanceledException => new(StripeFailureKind.TimedOut, 0, null, "Stripe did not answer in time."),
        _ => new(StripeFailureKind.Unreachable, 0, null, $"Stripe could not be reached: {e.GetType().Name}: {e.Message}"),
    };

    private static StripeFailure FromAnswer(StripeException e)
    {
        var status = (int)e.HttpStatusCode;
        var message = $"Stripe answered {status}: {e.StripeError?.Message ?? e.Message}";
        var kind = status switch
        {
            409 or 429 => StripeFailureKind.Busy,
            >= 400 and < 500 when e.StripeError?.Type == "card_error" => StripeFailureKind.CardDeclined,
            >= 400 and < 500 => StripeFailureKind.Refused,
            // 5xx, and anything that is no error status at all (a broken answer): Stripe's side.
            _ => StripeFailureKind.Failed,
        };
        return new StripeFailure(kind, status, e.StripeError?.Code, message);
    }

    /// <summary>An outbox channel's answer to a failed Stripe call: transient ones are sent again (same key), permanent ones are not.</summary>
    public static DeliveryResult Delivery(Exception e, string? doing = null)
    {
        var failure = Classify(e);
        var error = doing is null ? failure.Message : $"{doing}: {failure.Message}";
        return failure.Transient ? DeliveryResult.Transient(error) : DeliveryResult.Permanent(error);
    }

    /// <summary>
    /// The problem an API caller sees for a failed Stripe call; <paramref name="nothingDone"/> ends the transient
    /// answers' detail (what was not done, e.g. "nothing was charged").
    /// </summary>
    public static ProblemException Problem(Exception e, string nothingDone)
    {
        var failure = Classify(e);
        var retry = new Dictionary<string, string> { ["Retry-After"] = ((int)RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var stripeMessage = e is StripeException se ? se.StripeError?.Message ?? se.Message : e.Message;
        return failure.Kind switch
        {
            StripeFailureKind.TimedOut => new ProblemException(503, "stripe_unavailable", $"Stripe did not answer in time; {nothingDone}. Try again shortly.", retry),
            StripeFailureKind.Unreachable => new ProblemException(502, "stripe_unavailable", $"Stripe could not be reached; {nothingDone}. Try again shortly.", retry),
            StripeFailureKind.Failed => new ProblemException(502, "stripe_unavailable", $"Stripe failed to answer; {nothingDone}. Try again shortly.", retry),
            StripeFailureKind.Busy => new ProblemException(502, "stripe_unavailable", $"Stripe is busy with this request or rate limiting; {nothingDone}. Try again shortly.", retry),
            StripeFailureKind.CardDeclined => new ProblemException(402, "payment_failed", "Stripe refused the payment: " + stripeMessage),
            _ => new ProblemException(502, "stripe_refused", $"Stripe refused the request ({failure.Status}): {stripeMessage}"),
        };
    }
}
