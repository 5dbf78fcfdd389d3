using Backstop.Infrastructure.Configuration;

namespace Backstop.Infrastructure.Providers.Recall;

/// <summary>
/// Section <c>Recall</c>: the API key and region of the Recall.ai workspace (keys are per region). The webhook
/// secret of the same section is read by the inbox.
/// </summary>
public sealed class RecallOptions : IValidatedOptions
{
    public const string Section = "Recall";

    public static readonly string[] Regions = ["us-west-2", "us-east-1", "eu-central-1", "ap-northeast-1"];

    public string? ApiKey { get; set; }

    public string Region { get; set; } = "us-west-2";

    /// <summary>Defaults to the region's address, <c>https://{Region}.recall.ai</c>; set it to go through a proxy (or a local fake).</summary>
    public string? BaseUrl { get; set; }

    /// <summary>How long one API call may take. A create that times out is treated as refused (see docs/bots.md).</summary>
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>The name the bot shows in the meeting.</summary>
    public string BotName { get; set; } = "Backstop Notetaker";

    public bool Enabled => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri BaseAddress => new((string.IsNullOrWhiteSpace(BaseUrl) ? $"https://{Region}.recall.ai" : BaseUrl.Trim()).TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(BaseUrl) && !Regions.Contains(Region))
            yield return $"Recall:Region must be one of {string.Join(", ", Regions)} (got '{Region}').";
        if (!string.IsNullOrWhiteSpace(BaseUrl) && !(Uri.TryCreate(BaseUrl.Trim(), UriKind.Absolute, out var b) && b.Scheme is "http" or "https"))
            yield return $"Recall:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        if (TimeoutSeconds is < 1 or > 300) yield return "Recall:TimeoutSeconds must be between 1 and 300.";
        if (string.IsNullOrWhiteSpace(BotName) || BotName.Length > 100) yield return "Recall:BotName must be 1 to 100 characters.";
    }
}
