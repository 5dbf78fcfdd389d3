using PhoneNumbers;

namespace Backstop.Features.Messaging;

internal static class PhoneFilter
{
    /// <summary>
    /// The filter as E.164, or null when it is no number. A '+' typed unescaped in a query string arrives as a space
    /// (<c>?phoneNumber=+14155552671</c> reads " 14155552671"); it is read back as the '+' it was.
    /// </summary>
    public static string? Normalize(PhoneNumberNormalizer phones, string? raw)
    {
        if (raw is null) return null;
        var text = raw.Length > 1 && raw[0] == ' ' && char.IsAsciiDigit(raw.TrimStart()[0]) ? "+" + raw.TrimStart() : raw;
        return phones.ToE164(text);
    }
}
