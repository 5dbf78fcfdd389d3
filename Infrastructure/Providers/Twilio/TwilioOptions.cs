namespace Backstop.Infrastructure.Providers.Twilio;

/// <summary>
/// Settings of Twilio (section <c>Twilio</c>), one class for both directions: the Auth Token alone verifies inbound
/// webhooks (with <see cref="PublicBaseUrl"/>, the address Twilio signs); with the account and a sender it also sends.
/// </summary>
internal sealed class TwilioOptions : IValidatedOptions
{
    public const string Section = "Twilio";

    public string? AccountSid { get; set; }

    public string? AuthToken { get; set; }

    /// <summary>The sending number (E.164). Either this or <see cref="MessagingServiceSid"/>.</summary>
    public string? From { get; set; }

    public string? MessagingServiceSid { get; set; }

    /// <summary>The Messages API's base address; tests point it at a local server.</summary>
    public string BaseUrl { get; set; } = "https://api.twilio.com";

    /// <summary>This service's public address as Twilio reaches it (default: the top-level <c>PublicBaseUrl</c>); status callbacks go to <c>{PublicBaseUrl}/webhooks/twilio/status</c>. Without it no callback is requested.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>Messages per second this instance sends at most, so bursts are not filtered by carriers.</summary>
    public double SendRatePerSecond { get; set; } = 10;

    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>Inbound webhooks are accepted once the Auth Token and the public address they are signed for are set.</summary>
    public bool WebhooksEnabled => !string.IsNullOrWhiteSpace(AuthToken) && !string.IsNullOrWhiteSpace(PublicBaseUrl);

    /// <summary>Sending is enabled by configuring the account; the Auth Token alone only verifies inbound webhooks.</summary>
    public bool CanSend => !string.IsNullOrWhiteSpace(AccountSid) && !string.IsNullOrWhiteSpace(AuthToken)
                           && (!string.IsNullOrWhiteSpace(From) || !string.IsNullOrWhiteSpace(MessagingServiceSid));

    public string? StatusCallbackUrl => string.IsNullOrWhiteSpace(PublicBaseUrl) ? null : PublicBaseUrl.TrimEnd('/') + "/webhooks/twilio/status";

    public IEnumerable<string> Validate()
    {
        var sending = !string.IsNullOrWhiteSpace(AccountSid) || !string.IsNullOrWhiteSpace(From) || !string.IsNullOrWhiteSpace(MessagingServiceSid);
        if (sending)
        {
            if (string.IsNullOrWhiteSpace(AccountSid)) yield return "Twilio:AccountSid is required when Twilio:From or Twilio:MessagingServiceSid is set.";
            if (string.IsNullOrWhiteSpace(AuthToken)) yield return "Twilio:AuthToken is required when Twilio:AccountSid is set.";
            if (string.IsNullOrWhiteSpace(From) && string.IsNullOrWhiteSpace(MessagingServiceSid))
                yield return "Twilio:From or Twilio:MessagingServiceSid is required when Twilio:AccountSid is set.";
        }
        if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var b) || b.Scheme is not ("http" or "https"))
            yield return $"Twilio:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        // "required when Twilio:AuthToken is set" is checked across sections (it falls back to PublicBaseUrl): AddTwilio.
        if (!string.IsNullOrWhiteSpace(PublicBaseUrl) &&
            !(Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            yield return $"Twilio:PublicBaseUrl must be an absolute http(s) URL (got '{PublicBaseUrl}').";
        if (SendRatePerSecond is <= 0 or > 10_000) yield return "Twilio:SendRatePerSecond must be greater than 0 and at most 10000.";
        if (TimeoutSeconds is < 1 or > 300) yield return "Twilio:TimeoutSeconds must be between 1 and 300.";
    }
}
