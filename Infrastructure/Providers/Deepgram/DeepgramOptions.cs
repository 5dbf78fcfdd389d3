using Backstop.Infrastructure.Configuration;

namespace Backstop.Infrastructure.Providers.Deepgram;

/// <summary>Section <c>Deepgram</c>: the API key used to request transcriptions (callbacks are authenticated per request).</summary>
public sealed class DeepgramOptions : IValidatedOptions
{
    public const string Section = "Deepgram";

    public string? ApiKey { get; set; }

    public string BaseUrl { get; set; } = "https://api.deepgram.com";

    public string Model { get; set; } = "nova-3";

    /// <summary>Empty: Deepgram detects the language.</summary>
    public string? Language { get; set; }

    public int TimeoutSeconds { get; set; } = 30;

    public bool Enabled => !string.IsNullOrWhiteSpace(ApiKey);

    public IEnumerable<string> Validate()
    {
        if (!(Uri.TryCreate(BaseUrl, UriKind.Absolute, out var b) && b.Scheme is "http" or "https"))
            yield return $"Deepgram:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        if (string.IsNullOrWhiteSpace(Model)) yield return "Deepgram:Model must not be empty.";
        if (TimeoutSeconds is < 1 or > 300) yield return "Deepgram:TimeoutSeconds must be between 1 and 300.";
    }
}
