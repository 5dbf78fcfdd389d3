namespace Backstop.Infrastructure.Providers.Stripe;

/// <summary>
/// Settings of Stripe (section <c>Stripe</c>). Setting its webhook secret enables its inbox route (an empty secret is
/// never a fallback); setting its secret API key enables the Billing slice's calls to Stripe.
/// </summary>
internal sealed class StripeOptions : IValidatedOptions
{
    public const string Section = "Stripe";

    /// <summary>The endpoint's signing secret (<c>whsec_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>The secret (<c>sk_…</c>) or restricted (<c>rk_…</c>) API key Billing calls Stripe with.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Stripe's API address; set it to go through a proxy (or a local fake in tests). Its old name
    /// <c>Stripe:ApiBase</c> still works, with a deprecation warning at start.
    /// </summary>
    public string BaseUrl { get; set; } = "https://api.stripe.com";

    /// <summary>How long one API call may take.</summary>
    public int TimeoutSeconds { get; set; } = 30;

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    /// <summary>Billing can call Stripe.</summary>
    public bool ApiEnabled => !string.IsNullOrWhiteSpace(ApiKey);

    public IEnumerable<string> Validate()
    {
        if (Enabled && !WebhookSecret!.Trim().StartsWith("whsec_", StringComparison.Ordinal))
            yield return "Stripe:WebhookSecret must be the endpoint's signing secret starting with 'whsec_'.";
        if (ApiEnabled && !(ApiKey!.Trim().StartsWith("sk_", StringComparison.Ordinal) || ApiKey.Trim().StartsWith("rk_", StringComparison.Ordinal)))
            yield return "Stripe:ApiKey must be a secret key ('sk_…') or a restricted key ('rk_…'); a publishable key ('pk_…') cannot manage subscriptions.";
        if (!(Uri.TryCreate(BaseUrl?.Trim(), UriKind.Absolute, out var b) && b.Scheme is "http" or "https"))
            yield return $"Stripe:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        if (TimeoutSeconds is < 1 or > 300) yield return "Stripe:TimeoutSeconds must be between 1 and 300.";
    }
}
