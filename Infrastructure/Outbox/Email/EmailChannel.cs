using System.Net.Sockets;
using Backstop.Infrastructure.Jobs;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

/// <summary>What the <c>email</c> channel stores: a rendered message (templates render before enqueueing).</summary>
internal sealed record EmailPayload(string To, string Subject, string Text, string? Html);

/// <summary>A rendered email template.</summary>
internal sealed record EmailContent(string Subject, string Text, string Html);

/// <summary>
/// Delivers email through SMTP (MailKit) when <c>Email:Smtp:Host</c> is set, else writes <c>.eml</c> files to
/// <c>Email:PickupFolder</c> so that a zero-configuration install can read what it would have sent. The file sink is
/// for development: a sensitive message (a one-time code) is never written there, because the file would keep the
/// secret long after the outbox erased it from its row; it is dead-lettered with the reason instead.
/// </summary>
internal sealed class EmailChannel(IOptions<EmailOptions> options, ILogger<EmailChannel> log) : IOutboxChannel
{
    public string Name => OutboxEmail.Channel;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var payload = message.PayloadAs<EmailPayload>();
        if (!MailboxAddress.TryParse(payload.To, out var to))
            return DeliveryResult.Permanent($"'{payload.To}' is not an email address.");

        var o = options.Value;
        if (!o.UsesSmtp && message.Sensitive)
            return DeliveryResult.Permanent(EmailFileSink.SensitiveRefusal);

        var mime = new MimeMessage();
        mime.From.Add(MailboxAddress.Parse(o.From));
        mime.To.Add(to);
        mime.Subject = payload.Subject;
        // Stable per outbox message: a receiving server that sees a redelivery can tell it is the same message.
        mime.MessageId = $"{message.Id}@backstop";
        mime.Date = message.CreatedAt;
        var body = new BodyBuilder { TextBody = payload.Text };
        if (payload.Html is not null) body.HtmlBody = payload.Html;
        mime.Body = body.ToMessageBody();

        return o.UsesSmtp ? await SendSmtpAsync(mime, o.Smtp, ct) : await EmailFileSink.WriteAsync(mime, message, o.PickupFolder, ct);
    }

    /// <summary>
    /// How the connection is secured. <c>auto</c> with a password configured requires TLS (on connect for port 465,
    /// else STARTTLS): MailKit's own "auto" uses STARTTLS only when the server offers it, so a man in the middle that
    /// strips the offer would receive the password in clear. Plaintext with a password only by an explicit <c>none</c>.
    /// </summary>
    internal static SecureSocketOptions SocketOptions(SmtpOptions smtp) => smtp.TlsMode.Trim().ToLowerInvariant() switch
    {
        "none" => SecureSocketOptions.None,
        "ssl" => SecureSocketOptions.SslOnConnect,
        "starttls" => SecureSocketOptions.StartTls,
        _ when !string.IsNullOrEmpty(smtp.Password) => smtp.Port == 465 ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTls,
        _ => SecureSocketOptions.Auto,
    };

    private async Task<DeliveryResult> SendSmtpAsync(MimeMessage mime, SmtpOptions smtp, CancellationToken ct)
    {
        using var client = new SmtpClient { Timeout = smtp.TimeoutSeconds * 1000 };
        try
        {
            await client.ConnectAsync(smtp.Host!, smtp.Port, SocketOptions(smtp), ct);
            if (!string.IsNullOrEmpty(smtp.User)) await client.AuthenticateAsync(smtp.User, smtp.Password ?? "", ct);
            await client.SendAsync(mime, ct);
            await client.DisconnectAsync(quit: true, ct);
            return DeliveryResult.Sent(mime.MessageId);
        }
        catch (SmtpCommandException e)
        {
            // RFC 5321: 4yz is a transient negative reply (try again), 5yz a permanent one.
            var code = (int)e.StatusCode;
            var error = $"SMTP {code} during {e.ErrorCode}: {e.Message}";
            return code is >= 400 and < 500 ? DeliveryResult.Transient(error) : DeliveryResult.Permanent(error);
        }
        catch (Exception e) when (e is SmtpProtocolException or IOException or SocketException or TimeoutException or ServiceNotConnectedException
                                      or AuthenticationException or SslHandshakeException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            log.LogWarning("SMTP delivery to {Host}:{Port} failed: {Error}", smtp.Host, smtp.Port, e.GetType().Name);
            return DeliveryResult.Transient($"{e.GetType().Name}: {e.Message}");
        }
    }
}
