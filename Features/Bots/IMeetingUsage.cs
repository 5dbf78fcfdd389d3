namespace Backstop.Features.Bots;

/// <summary>
/// The Bots slice's public face for usage: what its rows count towards the <c>meetings_per_month</c> and
/// <c>storage_bytes</c> metrics. Read by Quota's reconciliation and by plan-change violations; runs on the caller's
/// connection (and transaction, when given).
/// </summary>
public interface IMeetingUsage
{
    /// <summary>
    /// Meetings the organization created in [<paramref name="from"/>, <paramref name="to"/>), deleted ones included (a
    /// deletion does not give a monthly meeting back), plus the bots it restarted on existing meetings in that period
    /// (every bot start counts; a start Recall refused is given back).
    /// </summary>
    Task<long> CountMeetingsCreatedAsync(DbConnection connection, DbTransaction? transaction, string organizationId, DateTimeOffset from, DateTimeOffset to, CancellationToken ct);

    /// <summary>Bytes of stored audio the organization holds: every meeting's file that storage still has (a deleted meeting's too, until the storage sweep removes it).</summary>
    Task<long> StoredBytesAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct);
}
