using System.Net;
using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Observability;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Outbox.Recall;
using Backstop.Infrastructure.Providers.Recall;
using Backstop.Features.Bots;

namespace Backstop.Features.Cleanup;

/// <summary>
/// Every 5 minutes: a meeting whose bot is active (<c>joining</c>, <c>in_call</c>, <c>recording</c>) but that nothing
/// updated for <c>Cleanup:OrphanedBotHours</c> lost its webhooks; it becomes <c>failed</c> (<c>bot_timeout</c>, with
/// <c>{failureReason, cleanedUpAt, originalBotId}</c>) and, in the same transaction, the bot is sent away at Recall
/// (best effort: the Recall channel takes "already completed" as success and retries the rest), the meeting's
/// member, else the organization's owners, is emailed and a <c>meeting.failed</c> event is written.
/// </summary>
/// <remarks>
/// A batch is a page read by id, then one transaction of one conditional update, one recipient lookup per distinct
/// (organization, member) of the page, one multi-row outbox insert per 1,000 messages, the batch's <c>meeting.failed</c>
/// events (the meetings and their bots' histories read, one sequence upsert, one events insert, one endpoint lookup and
/// their deliveries' insert: <see cref="IMeetingSweeps.PublishFailedAsync"/>) and one totals upsert. When the
/// transaction fails, its meetings are tried one by one, so one bad row is logged with its id and the rest are
/// swept; the page cursor moves on either way, so a row that keeps failing never holds the sweep in a loop.
/// </remarks>
internal sealed class OrphanedBotsJob(
    Db db,
    IOutbox outbox,
    IOrganizationDirectory directory,
    RecallClient recall,
    IMeetingSweeps sweeps,
    TimeProvider time,
    IOptions<CleanupOptions> options,
    JobContext context,
    ILogger<OrphanedBotsJob> log) : IRecurringJob, IReportsCounts
{
    public const string TimeoutMessage = "The recording bot timed out. This can happen if the meeting ended unexpectedly or there was a technical issue.";

    private readonly SweepCounts counts = new(Id);

    public static string Id => "orphaned-bots";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "*/5 * * * *";

    public IReadOnlyDictionary<string, long> Counts => counts.AsDictionary();

    private static readonly string[] Alive = ["joining_call", "in_waiting_room", "in_call_not_recording", "in_call_recording", "recording_permission_allowed", "recording_permission_denied", "ready"];

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var cutoff = now.AddHours(-options.Value.OrphanedBotHours);
        var maxCutoff = now.AddHours(-options.Value.MaxRecordingHours);
        var batchSize = options.Value.BatchSize;
        var checksLeft = options.Value.OrphanChecksPerRun;
        var after = "";
        // context.Stop: the run lost its lease and another may be sweeping; stop between batches, never inside one.
        while (!context.Stop.IsCancellationRequested && checksLeft > 0)
        {
            IReadOnlyList<OrphanCandidate> page;
            await using (var connection = await db.OpenAsync(ct))
                page = await sweeps.FindOrphanCandidatesAsync(connection, null, cutoff, maxCutoff, after, Math.Min(batchSize, checksLeft), ct);
            if (page.Count == 0) break;
            counts.Batch();
            after = page[^1].Id;

            // Silence is not death: Recall sends nothing while a bot records steadily. Ask it (one GET per candidate)
            // before failing anything; only a bot it does not know, or no answer at all, fails the meeting.
            var toFail = new List<string>(page.Count);
            foreach (var candidate in page)
            {
                checksLeft--;
                try
                {
                    if (!await CheckAsync(candidate, cutoff, maxCutoff, ct)) toFail.Add(candidate.Id);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    log.LogError(e, "Could not check the bot of meeting {MeetingId}; the next run tries again", candidate.Id);
                    counts.Add(0, 1, 0);
                    await RecordFailureAsync(now, ct);
                }
            }
            if (toFail.Count > 0) await FailPageAsync(toFail, now, cutoff, ct);
            if (page.Count < batchSize) break;
        }
        return counts.Done;
    }

    /// <summary>
    /// Asks Recall about one candidate and applies the answer. True when it was handled (alive, finished, or sent away
    /// at <c>Cleanup:MaxRecordingHours</c>); false when it is to be failed as <c>bot_timeout</c> (no bot, Recall does not
    /// know it, or Recall cannot be reached).
    /// </summary>
    private async Task<bool> CheckAsync(OrphanCandidate candidate, DateTimeOffset cutoff, DateTimeOffset maxCutoff, CancellationToken ct)
    {
        var quiet = candidate.UpdatedAt < cutoff && (candidate.JoinAt is null || candidate.JoinAt < cutoff);
        if (candidate.BotId is null) return !quiet;
        var bot = await recall.GetBotAsync(candidate.BotId, ct);
        if (!bot.Ok || bot.Value!.Status is not { } code)
        {
            if (!quiet) return true; // only past its recording time: nothing is failed without the quiet period
            log.LogWarning("Recall could not confirm bot {BotId} of meeting {MeetingId} ({Error}); failing it", candidate.BotId, candidate.Id, bot.Failure?.Message ?? "no status");
            return false;
        }
        var overTime = candidate.StopRequestedAt is null && (candidate.JoinAt ?? candidate.CreatedAt) < maxCutoff;
        var status = await sweeps.ApplyBotStatusAsync(candidate.Id, candidate.BotId, code, sendAway: overTime && Alive.Contains(code), ct);
        if (status is not null)
            log.LogInformation("Bot {BotId} of meeting {MeetingId} is {Code} at Recall; the meeting is {Status}", candidate.BotId, candidate.Id, code, status);
        Checked.WithLabels(Alive.Contains(code) ? "alive" : "finished").Inc();
        return true;
    }

    private static readonly Prometheus.Counter Checked = Prometheus.Metrics.CreateCounter(
        "backstop_orphaned_bots_checked_total", "Bots of quiet meetings the orphaned-bots sweep asked Recall about, by answer (alive, finished).", "answer").Seeded("alive", "finished");

    private async Task FailPageAsync(List<string> ids, DateTimeOffset now, DateTimeOffset cutoff, CancellationToken ct)
    {
        try
        {
            counts.Add(await FailAsync(ids, now, cutoff, ct), 0, 0);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            log.LogWarning(e, "A batch of {Count} orphaned meetings failed; trying them one by one", ids.Count);
            foreach (var id in ids)
            {
                try
                {
                    counts.Add(await FailAsync([id], now, cutoff, ct), 0, 0);
                }
                catch (Exception one) when (!ct.IsCancellationRequested)
                {
                    log.LogError(one, "Could not fail orphaned meeting {MeetingId}; the next run tries again", id);
                    counts.Add(0, 1, 0);
                    await RecordFailureAsync(now, ct);
                }
            }
        }
    }

    private Task<int> FailAsync(IReadOnlyList<string> ids, DateTimeOffset now, DateTimeOffset cutoff, CancellationToken ct) =>
        db.InTransactionAsync(async (connection, tx) =>
        {
            var failed = await sweeps.FailOrphanedAsync(connection, tx, ids, now, cutoff, ct);
            var messages = new List<OutboxEnvelope>();
            var recipients = new Dictionary<(string Organization, string? Member), IReadOnlyList<string>>();
            foreach (var meeting in failed)
            {
                // Keyed by the bot: if a stop or a delete already asked it to leave, that one message stands.
                if (meeting.BotId is not null) messages.Add(OutboxRecall.Stop(meeting.BotId, meeting.Id, "timeout:" + meeting.Id));
                if (!recipients.TryGetValue((meeting.OrganizationId, meeting.ExternalUserId), out var emails))
                    recipients[(meeting.OrganizationId, meeting.ExternalUserId)] = emails =
                        await directory.NotificationEmailsAsync(connection, tx, meeting.OrganizationId, meeting.ExternalUserId, ct);
                foreach (var email in emails)
                    messages.Add(OutboxEmail.Create($"cleanup:bot_timeout:{meeting.Id}:{meeting.BotId ?? "no-bot"}:{email.ToLowerInvariant()}",
                        email, TimedOut(meeting), meeting.Id));
            }
            if (messages.Count > 0) await outbox.EnqueueManyAsync(connection, tx, messages, ct);
            // meeting.failed (bot_timeout) for each, as one batch in this transaction.
            await sweeps.PublishFailedAsync(connection, tx, failed.Select(m => m.Id).ToList(), ct);
            if (failed.Count > 0)
            {
                await SweepCounts.AddToTotalsAsync(connection, tx, Id, failed.Count, 0, 0, now, ct);
                log.LogWarning("Failed {Count} meetings whose bot had no update since before {Cutoff} (bot_timeout)", failed.Count, cutoff);
            }
            foreach (var meeting in failed)
                log.LogInformation("Meeting {MeetingId} failed: its bot {BotId} had no update since before {Cutoff}", meeting.Id, meeting.BotId, cutoff);
            return failed.Count;
        }, ct);

    private async Task RecordFailureAsync(DateTimeOffset now, CancellationToken ct)
    {
        try
        {
            await using var connection = await db.OpenAsync(ct);
            await SweepCounts.AddToTotalsAsync(connection, null, Id, 0, 1, 0, now, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The run's own record (job_runs.counts) still has it.
            log.LogWarning(e, "Could not add a failure to the totals of {Sweep}", Id);
        }
    }

    private static EmailContent TimedOut(OrphanedMeeting meeting)
    {
        var subject = $"The recording bot of \"{meeting.Title}\" timed out";
        var text = $"{TimeoutMessage}\n\nMeeting: \"{meeting.Title}\" ({meeting.Id}).";
        var html = $"<p>{WebUtility.HtmlEncode(TimeoutMessage)}</p>" +
                   $"<p>Meeting: <strong>{WebUtility.HtmlEncode(meeting.Title)}</strong> (<code>{WebUtility.HtmlEncode(meeting.Id)}</code>).</p>";
        return new EmailContent(subject, text, html);
    }
}
