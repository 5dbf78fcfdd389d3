using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

internal sealed class SmtpOptions
{
    /// <summary>Setting it switches delivery from <c>.eml</c> files to SMTP.</summary>
    public string? Host { get; set; }

    public int Port { get; set; } = 587;

    /// <summary>
    /// <c>auto</c> (STARTTLS when offered; TLS on connect for port 465; with a password, TLS is required: STARTTLS, or
    /// TLS on connect for port 465), <c>starttls</c> (required), <c>ssl</c> (TLS on connect), <c>none</c> (plaintext, even with a password).
    /// </summary>
    public string TlsMode { get; set; } = "auto";

    public string? User { get; set; }

    public string? Password { get; set; }

    public int TimeoutSeconds { get; set; } = 30;
}
