using System.Net.Sockets;
using Backstop.Infrastructure.Jobs;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

internal static class OutboxEmail
{
    public const string Channel = "email";

    public static OutboxEnvelope Create(string idempotencyKey, string to, EmailContent content, string? reference = null, bool sensitive = false) =>
        OutboxEnvelope.Create(Channel, idempotencyKey, new EmailPayload(to, content.Subject, content.Text, content.Html), reference, sensitive);
}
