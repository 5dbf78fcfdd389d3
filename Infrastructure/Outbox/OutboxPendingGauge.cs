namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// Sets <c>backstop_outbox_pending</c> for every registered channel, 0 where nothing waits: a series that is absent
/// while the queue is empty looks to an alert (<c>absent()</c>, a dashboard's last value) like a broken exporter.
/// Refreshed at start-up and by each outbox sweep.
/// </summary>
internal sealed class OutboxPendingGauge(Db db, IEnumerable<IOutboxChannel> channels)
{
    public async Task RefreshAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var pending = (await connection.QueryAsync<(string Channel, long Count)>(new CommandDefinition(
            "select channel, count(*) from outbox_messages where status in ('pending', 'sending') group by channel",
            cancellationToken: ct))).ToDictionary(r => r.Channel, r => r.Count);
        var names = channels.Select(c => c.Name).Concat(pending.Keys).Concat(OutboxMetrics.Pending.GetAllLabelValues().Select(l => l[0]));
        foreach (var channel in names.Distinct())
            OutboxMetrics.Pending.WithLabels(channel).Set(pending.GetValueOrDefault(channel));
    }
}
