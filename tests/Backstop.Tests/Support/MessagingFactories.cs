using System.Globalization;

namespace Backstop.Tests.Support;

/// <summary>An app wired to a local SMTP server and a local Twilio; the background dispatcher is off so each test drives delivery.</summary>
public class MessagingSetup : AppSetup
{
    public SmtpTestServer Smtp { get; } = new();
    public TwilioTestServer Twilio { get; private set; } = null!;

    public override async ValueTask StartAsync() => Twilio = await TwilioTestServer.StartAsync();

    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        // Small batches: concurrent dispatchers then interleave many claims, which is where a double claim would show.
        settings["Outbox:BatchSize"] = "5";
        settings["Email:Smtp:Host"] = "127.0.0.1";
        settings["Email:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture);
        settings["Email:Smtp:TlsMode"] = "none";
        settings["Email:From"] = "Backstop <no-reply@backstop.test>";
        settings["Twilio:AccountSid"] = TwilioTestServer.AccountSid;
        settings["Twilio:AuthToken"] = TwilioTestServer.AuthToken;
        settings["Twilio:From"] = TwilioTestServer.From;
        settings["Twilio:BaseUrl"] = Twilio.BaseUrl;
        settings["Twilio:PublicBaseUrl"] = "https://backstop.example.com";
        settings["Twilio:SendRatePerSecond"] = "1000";
        settings["Messaging:AllowedCountries:0"] = "US";
    }

    public override async ValueTask DisposeAsync()
    {
        await Smtp.DisposeAsync();
        await Twilio.DisposeAsync();
        await base.DisposeAsync();
    }
}
