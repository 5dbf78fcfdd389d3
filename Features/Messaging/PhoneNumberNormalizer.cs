using PhoneNumbers;

namespace Backstop.Features.Messaging;

/// <summary>Normalises phone numbers to E.164 with libphonenumber; the one form stored and compared everywhere.</summary>
internal sealed class PhoneNumberNormalizer(IOptions<MessagingOptions> options)
{
    private static readonly PhoneNumberUtil Util = PhoneNumberUtil.GetInstance();

    /// <summary>The number in E.164 (<c>+14155550123</c>), or null when it is not a valid number.</summary>
    public string? ToE164(string? input)
    {
        if (string.IsNullOrWhiteSpace(input) || input.Length > 40) return null;
        var region = string.IsNullOrWhiteSpace(options.Value.DefaultRegion) ? null : options.Value.DefaultRegion.ToUpperInvariant();
        try
        {
            var number = Util.Parse(input.Trim(), region);
            return Util.IsValidNumber(number) ? Util.Format(number, PhoneNumberFormat.E164) : null;
        }
        catch (NumberParseException)
        {
            return null;
        }
    }
}
