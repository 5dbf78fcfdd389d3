using Backstop.Infrastructure.Jobs;
using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

/// <summary>Deletes <c>.eml</c> files of the pickup folder older than <c>Email:FileRetentionDays</c>; nothing else in the folder.</summary>
internal sealed class EmailFileRetentionJob(IOptions<EmailOptions> options, TimeProvider time, ILogger<EmailFileRetentionJob> log) : IRecurringJob
{
    public static string Id => "email-file-retention";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "30 * * * *";

    public Task<long> RunAsync(CancellationToken ct)
    {
        var o = options.Value;
        if (!Directory.Exists(o.PickupFolder)) return Task.FromResult(0L);
        var cutoff = time.GetUtcNow().UtcDateTime.AddDays(-o.FileRetentionDays);
        long deleted = 0;
        foreach (var file in Directory.EnumerateFiles(o.PickupFolder, "*.eml*"))
        {
            ct.ThrowIfCancellationRequested();
            if (!file.EndsWith(".eml", StringComparison.Ordinal) && !file.EndsWith(".eml.tmp", StringComparison.Ordinal)) continue;
            try
            {
                if (File.GetLastWriteTimeUtc(file) >= cutoff) continue;
                File.Delete(file);
                deleted++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // One file that cannot be removed (permissions, held open) must not stop the sweep.
                log.LogWarning("Could not delete expired email file {File}: {Error}", Path.GetFileName(file), e.Message);
            }
        }
        return Task.FromResult(deleted);
    }
}
