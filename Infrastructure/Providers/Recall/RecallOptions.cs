using Backstop.Infrastructure.Providers.Svix;

namespace Backstop.Infrastructure.Providers.Recall;

/// <summary>
/// Settings of Recall (section <c>Recall</c>): the webhook secret enables its inbox route (an empty secret is never
/// a fallback); the API key and region (keys are per region) enable recording bots.
/// </summary>
internal sealed class RecallOptions : IValidatedOptions
{
    public const string Section = "Recall";

    public static readonly string[] Regions = ["us-west-2", "us-east-1", "eu-central-1", "ap-northeast-1"];

    /// <summary>The workspace verification secret or the endpoint's Svix secret (<c>whsec_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    public string? ApiKey { get; set; }

    public string Region { get; set; } = "us-west-2";

    /// <summary>Defaults to the region's address, <c>https://{Region}.recall.ai</c>; set it to go through a proxy (or a local fake).</summary>
    public string? BaseUrl { get; set; }

    /// <summary>How long one API call may take. A create that times out is treated as refused (see docs/bots.md).</summary>
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>The name the bot shows in the meeting.</summary>
    public string BotName { get; set; } = "Backstop Notetaker";

    /// <summary>
    /// The hosts recordings are downloaded from, comma-separated (<c>*.</c> matches any subdomain): the storage hosts of
    /// Recall's pre-signed media links. A link elsewhere is refused and its meeting fails as <c>recording_unavailable</c>.
    /// </summary>
    public string MediaHosts { get; set; } = DefaultMediaHosts;

    public const string DefaultMediaHosts =
        "*.s3.amazonaws.com,*.s3.us-west-2.amazonaws.com,*.s3.us-east-1.amazonaws.com,*.s3.eu-central-1.amazonaws.com,*.s3.ap-northeast-1.amazonaws.com,*.recall.ai";

    /// <summary>How long one recording download may take, headers and body together.</summary>
    public int DownloadTimeoutMinutes { get; set; } = 30;

    /// <summary>The largest recording copied (5 GiB).</summary>
    public long MaxRecordingBytes { get; set; } = 5L * 1024 * 1024 * 1024;

    public string[] MediaHostList => MediaHosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The inbox route is enabled.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    /// <summary>Bots can be started.</summary>
    public bool ApiEnabled => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri BaseAddress => new((string.IsNullOrWhiteSpace(BaseUrl) ? $"https://{Region}.recall.ai" : BaseUrl.Trim()).TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        // Bots report every status through their webhooks: without the secret none is accepted and every bot fails by timeout.
        if (ApiEnabled && !Enabled)
            yield return "Recall:WebhookSecret is required when Recall:ApiKey is set (bots report their status through Recall's webhooks; without them every bot fails by timeout).";
        if (Enabled && !SvixSignature.IsValidSecret(WebhookSecret!))
            yield return "Recall:WebhookSecret must be a Svix secret: 'whsec_' followed by base64.";
        if (string.IsNullOrWhiteSpace(BaseUrl) && !Regions.Contains(Region))
            yield return $"Recall:Region must be one of {string.Join(", ", Regions)} (got '{Region}').";
        if (!string.IsNullOrWhiteSpace(BaseUrl) && !(Uri.TryCreate(BaseUrl.Trim(), UriKind.Absolute, out var b) && b.Scheme is "http" or "https"))
            yield return $"Recall:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        if (TimeoutSeconds is < 1 or > 300) yield return "Recall:TimeoutSeconds must be between 1 and 300.";
        if (MediaHostList.Length == 0) yield return "Recall:MediaHosts must name at least one host.";
        if (DownloadTimeoutMinutes is < 1 or > 1440) yield return "Recall:DownloadTimeoutMinutes must be between 1 and 1440.";
        if (MaxRecordingBytes < 1) yield return "Recall:MaxRecordingBytes must be positive.";
        if (string.IsNullOrWhiteSpace(BotName) || BotName.Length > 100) yield return "Recall:BotName must be 1 to 100 characters.";
    }
}
