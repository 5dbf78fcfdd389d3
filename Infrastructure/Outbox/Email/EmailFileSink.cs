using Backstop.Infrastructure.Jobs;
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
