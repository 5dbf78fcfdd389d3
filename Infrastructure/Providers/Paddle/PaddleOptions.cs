namespace Backstop.Infrastructure.Providers.Paddle;

/// <summary>
/// Settings of Paddle (section <c>Paddle</c>). Setting its webhook secret enables its inbox route; an empty secret is
/// never a fallback. The API key enables Backstop's calls to Paddle's API (today: cancelling the subscription of a
/// deleted organization); without it such a call waits in the outbox, retried, and the operator is alerted.
/// </summary>
internal sealed class PaddleOptions : IValidatedOptions
{
    public const string Section = "Paddle";

    /// <summary>The notification destination's secret key (<c>pdl_ntfset_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>
    /// The key of the checkout references Backstop issues (<c>POST /v1/billing/paddle-checkout</c>) and that a Paddle
    /// subscription's <c>custom_data</c> must carry before its organization is believed. At least 32 characters; empty:
    /// no reference is issued and no unmapped Paddle subscription is attached to an organization.
    /// </summary>
    public string? CheckoutSecret { get; set; }

    /// <summary>A server-side API key (<c>pdl_live_apikey_…</c> or <c>pdl_sdbx_apikey_…</c>), sent as a Bearer token. A secret: never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Paddle's API: <c>https://api.paddle.com</c> (live) or <c>https://sandbox-api.paddle.com</c> (sandbox); a proxy or a local fake otherwise.</summary>
    public string BaseUrl { get; set; } = DefaultBaseUrl;

    public const string DefaultBaseUrl = "https://api.paddle.com";
    public const string SandboxBaseUrl = "https://sandbox-api.paddle.com";

    /// <summary>How long one API call may take.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    /// <summary>Calls to Paddle's API can be made.</summary>
    public bool ApiEnabled => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri BaseAddress => new(BaseUrl.Trim().TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        if (!(Uri.TryCreate(BaseUrl?.Trim(), UriKind.Absolute, out var b) && b.Scheme is "http" or "https"))
            yield return $"Paddle:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        if (ApiEnabled)
        {
            var key = ApiKey!.Trim();
            if (key.Any(char.IsWhiteSpace) || key.Any(char.IsControl)) yield return "Paddle:ApiKey must not contain spaces or control characters.";
            // A key works only against its own environment: every call would answer 403.
            else if (key.StartsWith("pdl_sdbx_", StringComparison.Ordinal) && BaseUrl?.Trim().TrimEnd('/') == DefaultBaseUrl)
                yield return $"Paddle:ApiKey is a sandbox key but Paddle:BaseUrl is the live API; set Paddle:BaseUrl to {SandboxBaseUrl}.";
            else if (key.StartsWith("pdl_live_", StringComparison.Ordinal) && BaseUrl?.Trim().TrimEnd('/') == SandboxBaseUrl)
                yield return $"Paddle:ApiKey is a live key but Paddle:BaseUrl is the sandbox API; set Paddle:BaseUrl to {DefaultBaseUrl}.";
        }
        if (!string.IsNullOrEmpty(CheckoutSecret) && CheckoutSecret.Trim().Length < 32) yield return "Paddle:CheckoutSecret must be at least 32 characters.";
    }
}
