using PhoneNumbers;

namespace Backstop.Features.Messaging;

/// <summary>
/// Where this service sends SMS on the operator's Twilio account. A number is refused with 403
/// <c>destination_not_allowed</c> when its country is not the operator's (<c>Messaging:DefaultRegion</c>) or listed in
/// <c>Messaging:AllowedCountries</c>, when libphonenumber types it premium-rate or shared-cost (the sender pays a
/// surcharge the operator never sees coming: the classic toll-fraud target), or when it is in a satellite or
/// international-network range (+870 Inmarsat, +881 global mobile satellite, +882/+883 international networks),
/// which no country list can allow because they belong to no country.
/// </summary>
internal sealed class SmsDestinations(IOptions<MessagingOptions> options)
{
    private static readonly PhoneNumberUtil Util = PhoneNumberUtil.GetInstance();
    private static readonly HashSet<int> SatelliteCountryCodes = [870, 881, 882, 883];

    /// <summary>Throws the 403 problem when <paramref name="e164"/> may not be sent to; the reason names the rule, never more of the number.</summary>
    public void EnsureAllowed(string e164)
    {
        if (Refusal(e164) is { } reason) throw new ProblemException(403, "destination_not_allowed", reason);
    }

    public string? Refusal(string e164)
    {
        PhoneNumber number;
        try
        {
            number = Util.Parse(e164, null);
        }
        catch (NumberParseException)
        {
            return "The destination is not a valid phone number.";
        }
        if (SatelliteCountryCodes.Contains(number.CountryCode))
            return "SMS to satellite and international-network numbers is not allowed.";
        var type = Util.GetNumberType(number);
        if (type is PhoneNumberType.PREMIUM_RATE or PhoneNumberType.SHARED_COST)
            return "SMS to premium-rate numbers is not allowed.";
        var region = Util.GetRegionCodeForNumber(number);
        if (region is null || !IsAllowedCountry(region))
            return $"SMS to numbers of {region ?? "an unknown country"} is not allowed on this service (Messaging:AllowedCountries).";
        return null;
    }

    private bool IsAllowedCountry(string region)
    {
        var o = options.Value;
        if (!string.IsNullOrWhiteSpace(o.DefaultRegion) && string.Equals(o.DefaultRegion.Trim(), region, StringComparison.OrdinalIgnoreCase)) return true;
        foreach (var allowed in o.AllowedCountries)
            if (string.Equals(allowed.Trim(), region, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}
