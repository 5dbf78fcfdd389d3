namespace Backstop.Infrastructure.Outbox;

/// <summary>Messages of one channel waiting to be sent (pending, of which <see cref="Retrying"/> failed before) or dead, and the oldest one's creation.</summary>
internal sealed record OutboxDepth
{
    public string Channel { get; init; } = "";
    public string Status { get; init; } = "";
    public long Count { get; init; }
    public long Retrying { get; init; }
    public DateTimeOffset? OldestAt { get; init; }
}

/// <summary>The outbox's queue depths per channel, for the operator console's overview.</summary>
internal sealed class OutboxDepths(Db db)
{
    public async Task<IReadOnlyList<OutboxDepth>> ListAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<OutboxDepth>(new CommandDefinition(
            """
            select channel, status, count(*) as count, sum(case when attempts > 0 then 1 else 0 end) as retrying,
                   min(created_at) as oldest_at
            from outbox_messages
            where status in ('pending', 'sending', 'dead')
            group by channel, status
            order by channel, status
            """, cancellationToken: ct))).ToList();
    }
}
