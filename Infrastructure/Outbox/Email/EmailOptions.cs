using MimeKit;

namespace Backstop.Infrastructure.Outbox.Email;

internal sealed class EmailOptions : IValidatedOptions
{
    public const string Section = "Email";

    /// <summary>The sender of every message (<c>Name &lt;address&gt;</c> or a bare address).</summary>
    public string From { get; set; } = "Backstop <no-reply@backstop.localhost>";

    /// <summary>Where messages are written as <c>.eml</c> files when no SMTP server is configured.</summary>
    public string PickupFolder { get; set; } = "./data/mail";

    /// <summary>How long <c>.eml</c> files stay in <see cref="PickupFolder"/> before the retention job deletes them.</summary>
    public int FileRetentionDays { get; set; } = 7;

    public SmtpOptions Smtp { get; set; } = new();

    public bool UsesSmtp => !string.IsNullOrWhiteSpace(Smtp.Host);

    public IEnumerable<string> Validate()
    {
        if (!MailboxAddress.TryParse(From, out _)) yield return $"Email:From must be an email address, optionally with a name (got '{From}').";
        if (!UsesSmtp)
        {
            if (string.IsNullOrWhiteSpace(PickupFolder)) yield return "Email:PickupFolder is required when Email:Smtp:Host is not set.";
            if (FileRetentionDays is < 1 or > 3650) yield return "Email:FileRetentionDays must be between 1 and 3650.";
            if (!string.IsNullOrEmpty(Smtp.User)) yield return "Email:Smtp:Host is required when Email:Smtp:User is set.";
            yield break;
        }
        if (Smtp.Port is < 1 or > 65535) yield return "Email:Smtp:Port must be between 1 and 65535.";
        if (Smtp.TlsMode.Trim().ToLowerInvariant() is not ("auto" or "starttls" or "ssl" or "none"))
            yield return $"Email:Smtp:TlsMode must be auto, starttls, ssl or none (got '{Smtp.TlsMode}').";
        if (!string.IsNullOrEmpty(Smtp.User) && string.IsNullOrEmpty(Smtp.Password))
            yield return "Email:Smtp:Password is required when Email:Smtp:User is set.";
        if (string.IsNullOrEmpty(Smtp.User) && !string.IsNullOrEmpty(Smtp.Password))
            yield return "Email:Smtp:User is required when Email:Smtp:Password is set.";
        if (Smtp.TimeoutSeconds is < 1 or > 600) yield return "Email:Smtp:TimeoutSeconds must be between 1 and 600.";
    }
}
