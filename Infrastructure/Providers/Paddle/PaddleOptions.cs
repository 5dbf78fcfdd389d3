using Backstop.Infrastructure.Configuration;

namespace Backstop.Infrastructure.Providers.Paddle;

/// <summary>Settings of Paddle (section <c>Paddle</c>). Setting its webhook secret enables its inbox route; an empty secret is never a fallback.</summary>
internal sealed class PaddleOptions : IValidatedOptions
{
    public const string Section = "Paddle";

    /// <summary>The notification destination's secret key (<c>pdl_ntfset_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>
    /// The key of the checkout references Backstop issues (<c>POST /v1/billing/paddle-checkout</c>) and that a Paddle
    /// subscription's <c>custom_data</c> must carry before its organization is believed. At least 32 characters; empty:
    /// no reference is issued and no unmapped Paddle subscription is attached to an organization.
    /// </summary>
    public string? CheckoutSecret { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(WebhookSecret);

    public IEnumerable<string> Validate()
    {
        if (!string.IsNullOrEmpty(CheckoutSecret) && CheckoutSecret.Trim().Length < 32) yield return "Paddle:CheckoutSecret must be at least 32 characters.";
    }
}
