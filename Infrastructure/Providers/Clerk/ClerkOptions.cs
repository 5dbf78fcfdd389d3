using Backstop.Infrastructure.Providers.Svix;

namespace Backstop.Infrastructure.Providers.Clerk;

/// <summary>Settings of Clerk (section <c>Clerk</c>). Setting its webhook secret enables its inbox route; an empty secret is never a fallback.</summary>
internal sealed class ClerkOptions : IValidatedOptions
{
    public const string Section = "Clerk";

    /// <summary>The Svix signing secret of the Clerk endpoint (<c>whsec_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    public IEnumerable<string> Validate() =>
        Enabled && !SvixSignature.IsValidSecret(WebhookSecret!) ? ["Clerk:WebhookSecret must be a Svix secret: 'whsec_' followed by base64."] : [];
}
