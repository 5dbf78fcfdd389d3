using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Dapper;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// The safety net behind the dispatch loop: delivers whatever is due (including messages whose instance died while
/// holding them), deletes <c>sent</c> messages past retention in bounded batches, and refreshes the pending gauge.
/// </summary>
public sealed class OutboxSweepJob(OutboxDispatcher dispatcher, Db db, TimeProvider time, IOptions<OutboxOptions> options, OutboxPendingGauge gauge) : IRecurringJob
{
    // Small enough that one delete holds SQLite's single writer lock for milliseconds.
    private const int BatchSize = 1000;

    public static string Id => "outbox-sweep";
    public static string DefaultCron => "* * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long handled = await dispatcher.DispatchDueAsync(ct);

        var cutoff = time.GetUtcNow().AddDays(-options.Value.RetentionDays);
        while (true)
        {
            await using var connection = await db.OpenAsync(ct);
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                """
                delete from outbox_messages
                where id in (select id from outbox_messages where status = 'sent' and sent_at < @cutoff order by sent_at limit @BatchSize)
                """, new { cutoff, BatchSize }, cancellationToken: ct));
            handled += deleted;
            if (deleted < BatchSize) break;
        }

        await gauge.RefreshAsync(ct);
        return handled;
    }
}
