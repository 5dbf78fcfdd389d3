using System.Net.Sockets;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Tests.Infrastructure.Providers;

/// <summary>
/// The one policy for Stripe's errors, as a table: each kind of failure → transient or permanent, the outbox's answer,
/// and the problem (status, code, Retry-After) an API caller sees.
/// </summary>
public sealed class StripeErrorsTests
{
    private static StripeException Answer(int status, string? type = null, string? code = null) =>
        new((HttpStatusCode)status, new StripeError { Type = type ?? "invalid_request_error", Code = code, Message = "said " + status }, "said " + status);

    public static TheoryData<string, bool, int, string, bool> Table() => new()
    {
        // case, transient, problem status, problem code, Retry-After
        { "400", false, 502, "stripe_refused", false },
        { "401", false, 502, "stripe_refused", false },
        { "402 card_error", false, 402, "payment_failed", false },
        { "403", false, 502, "stripe_refused", false },
        { "404", false, 502, "stripe_refused", false },
        { "409", true, 502, "stripe_unavailable", true },
        { "429", true, 502, "stripe_unavailable", true },
        { "500", true, 502, "stripe_unavailable", true },
        { "503", true, 502, "stripe_unavailable", true },
        { "status 0", true, 502, "stripe_unavailable", true },
        { "wrapped connection error", true, 502, "stripe_unavailable", true },
        { "HttpRequestException", true, 502, "stripe_unavailable", true },
        { "IOException", true, 502, "stripe_unavailable", true },
        { "SocketException", true, 502, "stripe_unavailable", true },
        { "timeout", true, 503, "stripe_unavailable", true },
    };

    private static Exception Make(string name) => name switch
    {
        "402 card_error" => Answer(402, "card_error", "card_declined"),
        "status 0" => new StripeException((HttpStatusCode)0, null, "no answer"),
        "wrapped connection error" => new StripeException("Stripe could not be reached", new HttpRequestException("refused")),
        "HttpRequestException" => new HttpRequestException("connection refused"),
        "IOException" => new IOException("reset"),
        "SocketException" => new SocketException((int)SocketError.ConnectionReset),
        "timeout" => new TaskCanceledException("timed out"),
        _ => Answer(int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)),
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Each_failure_is_transient_or_permanent_and_answers_one_problem(string failure, bool transient, int status, string code, bool retryAfter)
    {
        var e = Make(failure);
        StripeErrors.IsStripeFailure(e, CancellationToken.None).ShouldBeTrue();
        StripeErrors.Classify(e).Transient.ShouldBe(transient);
        StripeErrors.Delivery(e).Outcome.ShouldBe(transient ? DeliveryOutcome.Transient : DeliveryOutcome.Permanent);

        var problem = StripeErrors.Problem(e, "nothing was charged");
        problem.Status.ShouldBe(status);
        problem.Code.ShouldBe(code);
        (problem.Headers?.ContainsKey("Retry-After") ?? false).ShouldBe(retryAfter);
        if (retryAfter) problem.Message.ShouldContain("nothing was charged");
    }

    [Fact]
    public void A_refusal_carries_Stripes_message_and_status()
    {
        var problem = StripeErrors.Problem(Answer(400, code: "resource_missing"), "nothing was changed");
        problem.Message.ShouldBe("Stripe refused the request (400): said 400");
        StripeErrors.Classify(Answer(400, code: "resource_missing")).Code.ShouldBe("resource_missing");
        StripeErrors.Delivery(Answer(404), "Reading charge ch_1").Error!.ShouldBe("Reading charge ch_1: Stripe answered 404: said 404");
    }

    [Fact]
    public void The_callers_own_cancellation_and_other_exceptions_are_no_Stripe_failures()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        StripeErrors.IsStripeFailure(new OperationCanceledException(cancelled.Token), cancelled.Token).ShouldBeFalse();
        StripeErrors.IsStripeFailure(new InvalidOperationException("a bug"), CancellationToken.None).ShouldBeFalse();
        StripeErrors.IsStripeFailure(new TaskCanceledException("timed out"), cancelled.Token).ShouldBeFalse();
    }
}
