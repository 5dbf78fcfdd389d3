using Backstop.Infrastructure.Jobs;
using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

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
