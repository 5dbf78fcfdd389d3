namespace Backstop.Infrastructure.Providers.Deepgram;

/// <summary>
/// Settings of Deepgram (section <c>Deepgram</c>). The API key enables transcriptions, whose callbacks carry a
/// token of their own (per request, stored hashed). <see cref="CallbackToken"/> is the older static token, still
/// accepted when set, for callbacks of requests made elsewhere.
/// </summary>
internal sealed class DeepgramOptions : IValidatedOptions
{
    public const string Section = "Deepgram";

    /// <summary>A static token accepted as <c>?token=</c> besides the per-request ones (optional).</summary>
    public string? CallbackToken { get; set; }

    public string? ApiKey { get; set; }

    public string BaseUrl { get; set; } = "https://api.deepgram.com";

    public string Model { get; set; } = "nova-3";

    /// <summary>Empty: Deepgram detects the language.</summary>
    public string? Language { get; set; }

    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>Hours a per-request callback token stays valid (it also expires when its transcription completes).</summary>
    public int CallbackTokenHours { get; set; } = 48;

    /// <summary>
    /// Minutes a meeting may stay <c>transcribing</c> without Deepgram's callback before the bot-pipeline-repair sweep
    /// requests the transcription again (once, with a fresh token), then marks it <c>transcription_failed</c>.
    /// </summary>
    public int CallbackTimeoutMinutes { get; set; } = 60;

    /// <summary>The inbox route is enabled: per-request tokens exist once transcriptions can be requested, or a static token is set.</summary>
    public bool Enabled => ApiEnabled || HasStaticToken;

    public bool HasStaticToken => !string.IsNullOrWhiteSpace(CallbackToken);

    public bool ApiEnabled => !string.IsNullOrWhiteSpace(ApiKey);

    public IEnumerable<string> Validate()
    {
        if (HasStaticToken && CallbackToken!.Trim().Length < 24)
            yield return "Deepgram:CallbackToken must be at least 24 characters (it is the callbacks' only authentication).";
        if (!(Uri.TryCreate(BaseUrl, UriKind.Absolute, out var b) && b.Scheme is "http" or "https"))
            yield return $"Deepgram:BaseUrl must be an absolute http(s) URL (got '{BaseUrl}').";
        if (string.IsNullOrWhiteSpace(Model)) yield return "Deepgram:Model must not be empty.";
        if (TimeoutSeconds is < 1 or > 300) yield return "Deepgram:TimeoutSeconds must be between 1 and 300.";
        if (CallbackTokenHours is < 1 or > 720) yield return "Deepgram:CallbackTokenHours must be between 1 and 720.";
        if (CallbackTimeoutMinutes is < 5 or > 10080) yield return "Deepgram:CallbackTimeoutMinutes must be between 5 and 10080 (a week).";
    }
}
