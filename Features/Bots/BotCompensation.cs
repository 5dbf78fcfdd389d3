using Backstop.Features.Quota;
using Backstop.Infrastructure.Outbox.Recall;
using Backstop.Infrastructure.Providers.Recall;

namespace Backstop.Features.Bots;

/// <summary>
/// Undoes a claim whose bot could not be recorded and sends that bot away (<c>leave_call</c> through the outbox),
/// in one transaction. When the database refuses that too, it is retried in the background with backoff until it
/// commits: the outbox row is what makes the leave_call itself durable and retried.
/// </summary>
internal sealed class BotCompensation(Db db, IOutbox outbox, IUsageMeter usage, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<BotCompensation> log)
{
    public sealed record Work(string MeetingId, string Claim, string? BotId, bool CreatedForStart);

    private static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(5);

    public async Task CompensateAsync(Work work)
    {
        if (await TryAsync(work)) return;
        _ = Task.Run(() => RetryAsync(work));
    }

    private async Task RetryAsync(Work work)
    {
        var delay = TimeSpan.FromSeconds(1);
        var stopping = lifetime.ApplicationStopping;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            if (await TryAsync(work)) return;
            delay = delay * 2 > MaxDelay ? MaxDelay : delay * 2;
        }
        log.LogError("Compensation for meeting {MeetingId} (bot {BotId}) did not complete before shutdown; the bot's status webhooks will send it away",
            work.MeetingId, work.BotId);
    }

    internal async Task<bool> TryAsync(Work work)
    {
        try
        {
            await db.InTransactionAsync(async (connection, tx) =>
            {
                await BotStarter.UndoClaimAsync(connection, tx, usage, work.MeetingId, work.Claim, work.CreatedForStart, time.GetUtcNow());
                if (work.BotId is null) return;
                // A bot that a meeting owns after all (a webhook adopted it) keeps recording; any other is sent away.
                var owner = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                    "select id from meetings where bot_id = @BotId and deleted_at is null", new { work.BotId }, tx));
                if (owner is null) await outbox.EnqueueAsync(connection, tx, OutboxRecall.Stop(work.BotId, work.MeetingId, "claim:" + work.Claim), CancellationToken.None);
            });
            if (work.BotId is not null) log.LogWarning("Bot {BotId} of meeting {MeetingId} is being sent away (compensation)", work.BotId, work.MeetingId);
            return true;
        }
        catch (Exception e)
        {
            log.LogError(e, "Compensation for meeting {MeetingId} (bot {BotId}) failed; retrying", work.MeetingId, work.BotId);
            return false;
        }
    }
}
