using System.Globalization;
using System.Security.Claims;
using Backstop.Infrastructure.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

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

    public static void AddTestTenants(IServiceCollection services)
    {
        services.AddSingleton<IApiKeyAuthenticator, TestTenantAuthenticator>();
        services.AddAuthorization(o =>
        {
            foreach (var scope in new[] { "read", "write", "admin" })
                o.AddPolicy("scope:" + scope, p => p.RequireClaim(BackstopClaims.Scope, scope));
        });
    }
}

/// <summary>
/// Stand-in for the ApiKeys slice until it is merged: a bearer token <c>mt_{organization}_{scope,scope}</c> is a
/// tenant principal of that organization with those scopes.
/// </summary>
public sealed class TestTenantAuthenticator : IApiKeyAuthenticator
{
    public static string Key(string organizationId, params string[] scopes) => $"mt_{organizationId}_{string.Join(',', scopes)}";

    public Task<AuthenticateResult?> AuthenticateAsync(string token, HttpContext context, CancellationToken ct)
    {
        var parts = token.Split('_');
        if (parts.Length != 3 || parts[0] != "mt") return Task.FromResult<AuthenticateResult?>(null);
        var claims = new List<Claim> { new(ClaimTypes.Name, "key:" + parts[1]), new(BackstopClaims.OrganizationId, parts[1]), new(BackstopClaims.KeyId, "k" + parts[1]) };
        claims.AddRange(parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => new Claim(BackstopClaims.Scope, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, BackstopClaims.Scheme));
        return Task.FromResult<AuthenticateResult?>(AuthenticateResult.Success(new AuthenticationTicket(principal, BackstopClaims.Scheme)));
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

    protected override void ConfigureTestServices(IServiceCollection services) => MessagingServerSettings.AddTestTenants(services);

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

    protected override void ConfigureTestServices(IServiceCollection services) => MessagingServerSettings.AddTestTenants(services);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
        await Twilio.DisposeAsync();
    }
}
