using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Active keys this instance verified within the last <see cref="ApiKeysOptions.CacheSeconds"/>, by lookup id.
/// A revocation, rotation, organization rename or deletion made through this instance forgets the affected keys at
/// once (<see cref="ForgetKey"/>, <see cref="ForgetOrganization"/>); one made through another instance is seen here
/// when the entry ages out, at most CacheSeconds later: the documented staleness across instances (for a rename: the
/// name <c>GET /v1/me</c> answers). Expiry is checked on every request against the cached expiry, so it is exact.
/// </summary>
internal sealed class ApiKeyCache(IOptions<ApiKeysOptions> options)
{
    // A bound on memory for a flood of distinct valid keys; past it the cache starts over (costs lookups, never
    // correctness).
    private const int MaxEntries = 100_000;

    internal sealed class Entry(VerifiedKeyRecord key, byte[] keyDigest, ClaimsPrincipal principal, DateTimeOffset? lastUsedAt,
        DateTimeOffset loadedAt)
    {
        public VerifiedKeyRecord Key { get; } = key;

        /// <summary>The stored hash as bytes (<see cref="Secrets.DigestOf"/>), decoded once per entry.</summary>
        public byte[] KeyDigest { get; } = keyDigest;
        public ClaimsPrincipal Principal { get; } = principal;
        public DateTimeOffset LoadedAt { get; } = loadedAt;

        // Ticks (0: never) rather than a DateTimeOffset?, which concurrent requests could read torn.
        private long lastUsedTicks = lastUsedAt?.UtcTicks ?? 0;

        /// <summary>The last use written to (or read from) the database, so a cached key still records its use.</summary>
        public DateTimeOffset? LastUsedAt
        {
            get => Volatile.Read(ref lastUsedTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;
            set => Volatile.Write(ref lastUsedTicks, value?.UtcTicks ?? 0);
        }
    }

    private readonly ConcurrentDictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private long generation;

    private TimeSpan Lifetime => TimeSpan.FromSeconds(options.Value.CacheSeconds);

    /// <summary>Read before a lookup and passed to <see cref="Add"/>: a forget in between keeps that lookup's result out.</summary>
    internal long Generation => Interlocked.Read(ref generation);

    internal Entry? Find(string lookupId, DateTimeOffset now)
    {
        if (!entries.TryGetValue(lookupId, out var entry)) return null;
        // Also refuses an entry "from the future" (a clock moved back): trust only what was read within the lifetime.
        if (now - entry.LoadedAt < Lifetime && now >= entry.LoadedAt) return entry;
        entries.TryRemove(new KeyValuePair<string, Entry>(lookupId, entry));
        return null;
    }

    internal void Add(string lookupId, VerifiedKeyRecord key, byte[] keyDigest, ClaimsPrincipal principal, DateTimeOffset? lastUsedAt,
        DateTimeOffset now, long readAtGeneration)
    {
        if (Lifetime <= TimeSpan.Zero || Generation != readAtGeneration) return;
        if (entries.Count >= MaxEntries) entries.Clear();
        var entry = new Entry(key, keyDigest, principal, lastUsedAt, now);
        entries[lookupId] = entry;
        // A forget that ran between the check above and the write did not see this entry: take it out again.
        if (Generation != readAtGeneration) entries.TryRemove(new KeyValuePair<string, Entry>(lookupId, entry));
    }

    /// <summary>Call after the change committed: lookups that started before it may have read the old row.</summary>
    public void ForgetKey(string keyId) => Forget(e => e.Key.Id == keyId);

    public void ForgetOrganization(string organizationId) => Forget(e => e.Key.OrganizationId == organizationId);

    private void Forget(Func<Entry, bool> match)
    {
        Interlocked.Increment(ref generation);
        foreach (var (lookupId, entry) in entries)
            if (match(entry)) entries.TryRemove(new KeyValuePair<string, Entry>(lookupId, entry));
    }
}
