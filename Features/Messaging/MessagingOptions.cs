using PhoneNumbers;

namespace Backstop.Features.Messaging;

internal sealed class MessagingOptions : IValidatedOptions
{
    public const string Section = "Messaging";

    /// <summary>Region (ISO 3166 alpha-2) assumed for numbers given without <c>+</c> and country code; empty: such numbers are refused.</summary>
    public string? DefaultRegion { get; set; }

    /// <summary>
    /// Countries (ISO 3166 alpha-2) SMS may be sent to besides <see cref="DefaultRegion"/>'s; empty: none, so an
    /// international send is refused (403 <c>destination_not_allowed</c>) until the operator lists the countries it pays for.
    /// </summary>
    public string[] AllowedCountries { get; set; } = [];

    /// <summary>SMS (one-time codes included) one organization may queue per minute; beyond it 429 <c>rate_limited</c> with <c>Retry-After</c>.</summary>
    public int OrganizationRatePerMinute { get; set; } = 60;

    public string OptOutReply { get; set; } = "You have been unsubscribed and will receive no more messages. Reply START to resubscribe.";

    public string OptInReply { get; set; } = "You have been resubscribed. Reply STOP to unsubscribe.";

    public string HelpReply { get; set; } = "Reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply.";

    public OtpOptions Otp { get; set; } = new();

    public IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(DefaultRegion) && !PhoneNumberUtil.GetInstance().GetSupportedRegions().Contains(DefaultRegion.ToUpperInvariant()))
            yield return $"Messaging:DefaultRegion must be a region code such as US or GB (got '{DefaultRegion}').";
        for (var i = 0; i < AllowedCountries.Length; i++)
            if (!PhoneNumberUtil.GetInstance().GetSupportedRegions().Contains(AllowedCountries[i].Trim().ToUpperInvariant()))
                yield return $"Messaging:AllowedCountries:{i} must be a region code such as US or GB (got '{AllowedCountries[i]}').";
        if (OrganizationRatePerMinute < 1) yield return "Messaging:OrganizationRatePerMinute must be at least 1.";
        if (Otp.OrganizationLimitPerMinute < 1) yield return "Messaging:Otp:OrganizationLimitPerMinute must be at least 1.";
        if (string.IsNullOrWhiteSpace(OptOutReply)) yield return "Messaging:OptOutReply must not be empty.";
        if (string.IsNullOrWhiteSpace(OptInReply)) yield return "Messaging:OptInReply must not be empty.";
        if (string.IsNullOrWhiteSpace(HelpReply)) yield return "Messaging:HelpReply must not be empty.";
        if (Otp.LifetimeMinutes is < 1 or > 1440) yield return "Messaging:Otp:LifetimeMinutes must be between 1 and 1440.";
        if (Otp.MaxAttempts is < 1 or > 100) yield return "Messaging:Otp:MaxAttempts must be between 1 and 100.";
        if (Otp.PerIdentifierLimit < 1) yield return "Messaging:Otp:PerIdentifierLimit must be at least 1.";
        if (Otp.PerIdentifierWindowMinutes is < 1 or > 1440) yield return "Messaging:Otp:PerIdentifierWindowMinutes must be between 1 and 1440.";
        if (Otp.GlobalLimitPerMinute < 1) yield return "Messaging:Otp:GlobalLimitPerMinute must be at least 1.";
    }
}
