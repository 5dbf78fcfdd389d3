using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Providers.Svix;

namespace Backstop.Infrastructure.Providers.Recall;

/// <summary>Settings of Recall (section <c>Recall</c>). Setting its webhook secret enables its inbox route; an empty secret is never a fallback.</summary>
public sealed class RecallOptions : IValidatedOptions
{
    public const string Section = "Recall";

    /// <summary>The workspace verification secret or the endpoint's Svix secret (<c>whsec_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    public IEnumerable<string> Validate() =>
        Enabled && !SvixSignature.IsValidSecret(WebhookSecret!) ? ["Recall:WebhookSecret must be a Svix secret: 'whsec_' followed by base64."] : [];
}
