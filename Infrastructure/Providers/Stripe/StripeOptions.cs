using Backstop.Infrastructure.Configuration;

namespace Backstop.Infrastructure.Providers.Stripe;

/// <summary>Settings of Stripe (section <c>Stripe</c>). Setting its webhook secret enables its inbox route; an empty secret is never a fallback.</summary>
internal sealed class StripeOptions : IValidatedOptions
{
    public const string Section = "Stripe";

    /// <summary>The endpoint's signing secret (<c>whsec_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    public IEnumerable<string> Validate()
    {
        if (Enabled && !WebhookSecret!.Trim().StartsWith("whsec_", StringComparison.Ordinal))
            yield return "Stripe:WebhookSecret must be the endpoint's signing secret starting with 'whsec_'.";
    }
}
