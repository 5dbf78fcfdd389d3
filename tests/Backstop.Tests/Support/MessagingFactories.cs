using System.Globalization;

namespace Backstop.Tests.Support;

/// <summary>An app wired to a local SMTP server and a local Twilio; the background dispatcher is off so each test drives delivery.</summary>
public interface IMessagingServers
{
    SmtpTestServer Smtp { get; }
    TwilioTestServer Twilio { get; }
}

public static class MessagingServerSettings
{
    public static void Apply(Dictionary<string, string?> settings, IMessagingServers servers)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        // Small batches: concurrent dispatchers then interleave many claims, which is where a double claim would show.
        settings["Outbox:BatchSize"] = "5";
        settings["Email:Smtp:Host"] = "127.0.0.1";
        settings["Email:Smtp:Port"] = servers.Smtp.Port.ToString(CultureInfo.InvariantCulture);
        settings["Email:Smtp:TlsMode"] = "none";
        settings["Email:From"] = "Backstop <no-reply@backstop.test>";
        settings["Twilio:AccountSid"] = TwilioTestServer.AccountSid;
        settings["Twilio:AuthToken"] = TwilioTestServer.AuthToken;
        settings["Twilio:From"] = TwilioTestServer.From;
        settings["Twilio:BaseUrl"] = servers.Twilio.BaseUrl;
        settings["Twilio:PublicBaseUrl"] = "https://backstop.example.com";
        settings["Twilio:SendRatePerSecond"] = "1000";
    }
}

public class SqliteMessagingFactory : SqliteFactory, IMessagingServers
{
    public SmtpTestServer Smtp { get; } = new();
    public TwilioTestServer Twilio { get; private set; } = null!;

    public override async ValueTask InitializeAsync()
    {
        Twilio = await TwilioTestServer.StartAsync();
        await base.InitializeAsync();
    }

    protected override void Configure(Dictionary<string, string?> settings) => MessagingServerSettings.Apply(settings, this);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
        await Twilio.DisposeAsync();
    }
}

public class PostgresMessagingFactory(PostgresServer server) : PostgresFactory(server), IMessagingServers
{
    public SmtpTestServer Smtp { get; } = new();
    public TwilioTestServer Twilio { get; private set; } = null!;

    public override async ValueTask InitializeAsync()
    {
        Twilio = await TwilioTestServer.StartAsync();
        await base.InitializeAsync();
    }

    protected override void Configure(Dictionary<string, string?> settings) => MessagingServerSettings.Apply(settings, this);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
        await Twilio.DisposeAsync();
    }
}
