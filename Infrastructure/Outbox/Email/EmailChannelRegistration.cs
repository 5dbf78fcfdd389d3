using System.Net.Sockets;
using Backstop.Infrastructure.Jobs;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

internal static class EmailChannelRegistration
{
    public static IServiceCollection AddEmailChannel(this IServiceCollection services)
    {
        Configuration.ConfigurationCheckExtensions.AddCheckedOptions<EmailOptions>(services, EmailOptions.Section);
        services.AddSingleton<IOutboxChannel, EmailChannel>();
        services.AddHostedService<EmailFileSinkAnnouncement>();
        services.AddRecurringJob<EmailFileRetentionJob>();
        return services;
    }
}
