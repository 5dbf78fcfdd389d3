using Stripe;

namespace Backstop.Infrastructure.Providers.Stripe;

/// <summary>
/// Stripe.net's client over our <see cref="HttpClient"/> (named <c>stripe</c>), pointed at <c>Stripe:BaseUrl</c>.
/// Stripe.net's own network retries are off: a call that must be retried goes through the outbox (or the caller's
/// retry) with the same <c>Idempotency-Key</c>, derived from the operation, so Stripe applies it once.
/// </summary>
internal sealed class StripeApi(IOptions<StripeOptions> options, IHttpClientFactory httpClients)
{
    public const string HttpClientName = "stripe";

    private readonly Lazy<IStripeClient?> _client = new(() =>
    {
        var o = options.Value;
        if (!o.ApiEnabled) return null;
        return new StripeClient(new StripeClientOptions
        {
            ApiKey = o.ApiKey!.Trim(),
            ApiBase = o.BaseUrl.Trim().TrimEnd('/'),
            HttpClient = new SystemNetHttpClient(httpClients.CreateClient(HttpClientName), maxNetworkRetries: 0),
        });
    });

    public bool Configured => options.Value.ApiEnabled;

    /// <summary>The client; 503 <c>billing_not_configured</c> when <c>Stripe:ApiKey</c> is not set.</summary>
    public IStripeClient Client => _client.Value
        ?? throw new ProblemException(503, "billing_not_configured", "Billing with Stripe is not configured on this server (Stripe:ApiKey is not set).");

    /// <summary>Request options carrying the idempotency key of the operation (never a random or clock-based one).</summary>
    public static RequestOptions Idempotent(string key) => new() { IdempotencyKey = key };
}
