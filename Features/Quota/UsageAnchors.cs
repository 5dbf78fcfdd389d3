using System.Globalization;

namespace Backstop.Features.Quota;

/// <summary>
/// Where a renewal event moves an organization's billing anchor. The period an event names is recorded once per
/// (organization, period start) in <c>usage_periods</c>, and since counters are keyed by their period's start, a
/// second delivery of the same renewal (another event id, the same period) opens nothing new: one reset.
/// </summary>
internal static class UsageAnchors
{
    /// <summary>Records the period and moves the anchor to it, never backwards (events arrive out of order). True when the period is new.</summary>
    public static async Task<bool> MoveAsync(DbConnection connection, DbTransaction tx, string organizationId, string provider, string? subscriptionId,
        DateTimeOffset start, DateTimeOffset end, string eventId, DateTimeOffset now, CancellationToken ct)
    {
        var opened = await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into usage_periods (organization_id, period_start, period_end, provider, event_id, created_at)
            values (@organizationId, @start, @end, @provider, @eventId, @now)
            on conflict (organization_id, period_start) do nothing
            """, new { organizationId, start, end, provider, eventId, now }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into usage_anchors (organization_id, provider, provider_subscription_id, period_start, period_end, updated_at)
            values (@organizationId, @provider, @subscriptionId, @start, @end, @now)
            on conflict (organization_id) do update
                set provider = excluded.provider,
                    provider_subscription_id = coalesce(excluded.provider_subscription_id, usage_anchors.provider_subscription_id),
                    period_start = excluded.period_start, period_end = excluded.period_end, updated_at = excluded.updated_at
                where excluded.period_start >= usage_anchors.period_start
            """, new { organizationId, provider, subscriptionId, start, end, now }, tx, cancellationToken: ct));
        return opened == 1;
    }

    /// <summary>The organization an earlier event of this subscription named (for events that do not carry it themselves).</summary>
    public static Task<string?> OrganizationOfAsync(DbConnection connection, DbTransaction tx, string provider, string? subscriptionId, CancellationToken ct) =>
        subscriptionId is null
            ? Task.FromResult<string?>(null)
            : connection.QueryFirstOrDefaultAsync<string?>(new CommandDefinition(
                "select organization_id from usage_anchors where provider = @provider and provider_subscription_id = @subscriptionId",
                new { provider, subscriptionId }, tx, cancellationToken: ct));

    public static JsonElement Prop(this JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : default;

    public static string? Str(this JsonElement e) => e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 } s ? s : null;

    /// <summary>A Stripe expandable reference: the id string, or the expanded object's id.</summary>
    public static string? Id(this JsonElement e) => e.ValueKind == JsonValueKind.Object ? e.Prop("id").Str() : e.Str();

    public static DateTimeOffset? Unix(this JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var s) ? DateTimeOffset.FromUnixTimeSeconds(s) : null;

    public static DateTimeOffset? Rfc3339(this JsonElement e) =>
        e.Str() is { } s && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : null;
}
