namespace Backstop.Features.ApiKeys;

internal sealed class ApiKeysOptions : IValidatedOptions
{
    public const string Section = "ApiKeys";

    /// <summary>How long a rotated key keeps working next to its replacement.</summary>
    public int RotationOverlapMinutes { get; set; } = 1440;

    /// <summary>last_used_at is written at most this often per key, so busy keys do not write on every request.</summary>
    public int LastUsedIntervalSeconds { get; set; } = 60;

    /// <summary>
    /// How long an instance trusts what it read from the database without reading again: a verified key (so a
    /// request needs no key lookup), and "no lock" for a client address without a failure counted here. A revoke,
    /// rotation or organization deletion on this instance, and a failure from this address on this instance, take
    /// effect on it at once; on other instances within this many seconds. 0 turns both off.
    /// </summary>
    public int CacheSeconds { get; set; } = 5;

    /// <summary>Requests one tenant key may make per minute (sliding window, per instance); beyond it 429 <c>rate_limited</c>.</summary>
    public int RequestsPerMinute { get; set; } = 1200;

    /// <summary>Requests per key and minute to the endpoints that call a payment provider (plan-change preview and request, checkout).</summary>
    public int ProviderRequestsPerMinute { get; set; } = 30;

    public IEnumerable<string> Validate()
    {
        if (RequestsPerMinute is < 1 or > 10_000_000) yield return "ApiKeys:RequestsPerMinute must be between 1 and 10000000.";
        if (ProviderRequestsPerMinute is < 1 or > 10_000_000) yield return "ApiKeys:ProviderRequestsPerMinute must be between 1 and 10000000.";
        if (RotationOverlapMinutes is < 0 or > 60 * 24 * 90) yield return "ApiKeys:RotationOverlapMinutes must be between 0 and 129600 (90 days).";
        if (LastUsedIntervalSeconds is < 1 or > 86400) yield return "ApiKeys:LastUsedIntervalSeconds must be between 1 and 86400.";
        if (CacheSeconds is < 0 or > 60) yield return "ApiKeys:CacheSeconds must be between 0 and 60.";
    }
}
