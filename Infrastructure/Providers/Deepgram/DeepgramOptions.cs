using Backstop.Infrastructure.Configuration;

namespace Backstop.Infrastructure.Providers.Deepgram;

/// <summary>Settings of Deepgram (section <c>Deepgram</c>). Setting its webhook secret enables its inbox route; an empty secret is never a fallback.</summary>
public sealed class DeepgramOptions : IValidatedOptions
{
    public const string Section = "Deepgram";

    /// <summary>The unguessable token put in callback URLs as <c>?token=</c>.</summary>
    public string? CallbackToken { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CallbackToken);

    public IEnumerable<string> Validate()
    {
        if (Enabled && CallbackToken!.Trim().Length < 24)
            yield return "Deepgram:CallbackToken must be at least 24 characters (it is the callbacks' only authentication).";
    }
}
