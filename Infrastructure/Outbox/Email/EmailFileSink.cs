using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

/// <summary>
/// The <c>.eml</c> pickup folder used when no SMTP server is configured. Files and the folder are readable only by
/// the service's own user (0600 / 0700 on Unix): a message can hold a password-reset link or a personal address.
/// </summary>
internal static class EmailFileSink
{
    public const string SensitiveRefusal =
        "Not written to the development file sink: the message holds a one-time code, and a file would keep it after the outbox erased it. Configure Email:Smtp:Host to deliver it.";

    private const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static async Task<DeliveryResult> WriteAsync(MimeMessage mime, OutboxMessage message, string folder, CancellationToken ct)
    {
        CreateFolder(folder);
        // Named by the message, so a redelivery overwrites rather than duplicates.
        var name = $"{DapperSetup.ToSqliteText(message.CreatedAt)[..19].Replace(":", "").Replace("-", "")}_{message.Id}.eml";
        var path = Path.Combine(folder, name);
        var temp = path + ".tmp";
        // A temp file left by a crash keeps its old mode when opened again: start from a new file, always.
        File.Delete(temp);
        var create = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = FileMode;
        await using (var stream = new FileStream(temp, create))
            await mime.WriteToAsync(stream, ct);
        File.Move(temp, path, overwrite: true);
        return DeliveryResult.Sent(path);
    }

    private static void CreateFolder(string folder)
    {
        if (Directory.Exists(folder)) return;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
        else Directory.CreateDirectory(folder, FolderMode);
    }
}

/// <summary>Says once, at start-up, that email goes to files: an operator who forgot SMTP sees it in the first lines of the log.</summary>
internal sealed class EmailFileSinkAnnouncement(IOptions<EmailOptions> options, ILogger<EmailFileSinkAnnouncement> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.UsesSmtp)
            log.LogWarning(
                "Email:Smtp:Host is not set: email is written as .eml files to {PickupFolder}, a development sink (files kept {RetentionDays} days, messages with one-time codes are not written but dead-lettered). Configure SMTP for production",
                Path.GetFullPath(o.PickupFolder), o.FileRetentionDays);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

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
