using Backstop.Infrastructure.Configuration;

namespace Backstop.Infrastructure.Providers.Paddle;

/// <summary>Settings of Paddle (section <c>Paddle</c>). Setting its webhook secret enables its inbox route; an empty secret is never a fallback.</summary>
internal sealed class PaddleOptions : IValidatedOptions
{
    public const string Section = "Paddle";

    /// <summary>The notification destination's secret key (<c>pdl_ntfset_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    public IEnumerable<string> Validate() => [];
}
