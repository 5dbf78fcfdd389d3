namespace Backstop.Infrastructure.Inbox;

/// <summary>Events waiting (received, failed) or given up (dead) for one provider, and when the oldest of them arrived.</summary>
internal sealed record InboxDepth
{
    public string Provider { get; init; } = "";
    public string Status { get; init; } = "";
    public long Count { get; init; }
    public DateTimeOffset? OldestAt { get; init; }
}

/// <summary>The inbox's queue depths, for the operator console's overview.</summary>
internal sealed class InboxDepths(Db db)
{
    public async Task<IReadOnlyList<InboxDepth>> ListAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<InboxDepth>(new CommandDefinition(
            """
            select provider, status, count(*) as count, min(received_at) as oldest_at
            from webhook_events
            where status in ('received', 'processing', 'failed', 'dead')
            group by provider, status
            order by provider, status
            """, cancellationToken: ct))).ToList();
    }
}
