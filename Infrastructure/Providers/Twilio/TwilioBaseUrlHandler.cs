namespace Backstop.Infrastructure.Providers.Twilio;

/// <summary>
/// Sits under the Twilio SDK's HTTP calls. The SDK builds <c>https://api.twilio.com/…</c> itself, so
/// <c>Twilio:BaseUrl</c> (a proxy, a local test server) is honoured here by rewriting scheme, host and port; and the
/// SDK's <c>ApiException</c> carries neither the HTTP exchange nor <c>Retry-After</c>, so the handler records them in
/// the <see cref="Exchange"/> the caller observes (an async-local box: visible to the caller after the call).
/// </summary>
internal sealed class TwilioBaseUrlHandler(IOptions<TwilioOptions> options, TimeProvider time) : DelegatingHandler
{
    internal sealed class Exchange
    {
        public int? Status { get; set; }
        public TimeSpan? RetryAfter { get; set; }
        public CancellationToken Cancellation { get; set; }
    }

    private static readonly AsyncLocal<Exchange?> Current = new();

    /// <summary>Starts observing the Twilio calls made from this async flow.</summary>
    public static Exchange Observe() => Current.Value = new Exchange();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var exchange = Current.Value;
        var target = new Uri(options.Value.BaseUrl.TrimEnd('/') + "/");
        if (request.RequestUri is { } uri)
        {
            var rewritten = new UriBuilder(uri) { Scheme = target.Scheme, Host = target.Host, Port = target.Port };
            var prefix = target.AbsolutePath.TrimEnd('/');
            if (prefix.Length > 0) rewritten.Path = prefix + uri.AbsolutePath;
            request.RequestUri = rewritten.Uri;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, exchange?.Cancellation ?? CancellationToken.None);
        var response = await base.SendAsync(request, linked.Token);
        if (exchange is not null)
        {
            exchange.Status = (int)response.StatusCode;
            var header = response.Headers.RetryAfter;
            var now = time.GetUtcNow();
            exchange.RetryAfter = header?.Delta ?? (header?.Date is { } date ? (date > now ? date - now : TimeSpan.Zero) : null);
        }
        return response;
    }
}
