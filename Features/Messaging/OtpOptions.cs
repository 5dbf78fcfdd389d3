using PhoneNumbers;

namespace Backstop.Features.Messaging;

internal sealed class OtpOptions
{
    public int LifetimeMinutes { get; set; } = 10;
    public int MaxAttempts { get; set; } = 5;
    public int PerIdentifierLimit { get; set; } = 3;
    public int PerIdentifierWindowMinutes { get; set; } = 15;
    /// <summary>The instance-wide ceiling on codes sent per minute, all organizations together.</summary>
    public int GlobalLimitPerMinute { get; set; } = 100;
    /// <summary>Codes one organization may send per minute (its share: one tenant's burst cannot take the whole ceiling).</summary>
    public int OrganizationLimitPerMinute { get; set; } = 30;
}
