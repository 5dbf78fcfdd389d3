using Backstop.Features.Messaging;
using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Features.Messaging;

public sealed class MessagingConfigurationTests
{
    private static IReadOnlyList<string> ProblemsOf(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddProviders().AddOutbox().AddMessaging();
        var check = (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
        return check.Problems(configuration);
    }

    [Fact]
    public void Zero_configuration_is_valid() => ProblemsOf([]).ShouldBeEmpty();

    [Fact]
    public void The_appsettings_defaults_are_valid()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "appsettings.json");
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(file)).Build();
        var services = new ServiceCollection();
        services.AddProviders().AddOutbox().AddMessaging();
        var check = (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
        check.Problems(configuration).ShouldBeEmpty();
    }

    [Fact]
    public void A_half_configured_twilio_or_smtp_names_every_missing_key()
    {
        var message = new InvalidConfigurationException(ProblemsOf(new()
        {
            ["Twilio:From"] = "+15005550006",
            ["Email:Smtp:Host"] = "smtp.example.com",
            ["Email:Smtp:User"] = "mailer",
            ["Email:Smtp:TlsMode"] = "sometimes",
            ["Outbox:Channels:sms:MaxAttempts"] = "0",
            ["Messaging:DefaultRegion"] = "Atlantis",
        })).Message;

        message.ShouldContain("Twilio:AccountSid");
        message.ShouldContain("Twilio:AuthToken");
        message.ShouldContain("Email:Smtp:Password");
        message.ShouldContain("Email:Smtp:TlsMode");
        message.ShouldContain("Outbox:Channels:sms:MaxAttempts");
        message.ShouldContain("Messaging:DefaultRegion");
    }

    [Fact]
    public void The_auth_token_with_the_public_address_only_verifies_webhooks_and_is_valid()
    {
        ProblemsOf(new() { ["Twilio:AuthToken"] = "secret", ["Twilio:PublicBaseUrl"] = "https://backstop.example.com" }).ShouldBeEmpty();
        // One options class binds the section now: the token alone cannot verify anything (Twilio signs the public URL).
        ProblemsOf(new() { ["Twilio:AuthToken"] = "secret" }).ShouldContain(p => p.Contains("Twilio:PublicBaseUrl"));
    }

    [Theory]
    [InlineData("STOP", nameof(SmsKeyword.OptOut))]
    [InlineData("  stop  ", nameof(SmsKeyword.OptOut))]
    [InlineData("Unsubscribe", nameof(SmsKeyword.OptOut))]
    [InlineData("revoke", nameof(SmsKeyword.OptOut))]
    [InlineData("optout", nameof(SmsKeyword.OptOut))]
    [InlineData("START", nameof(SmsKeyword.OptIn))]
    [InlineData("unstop", nameof(SmsKeyword.OptIn))]
    [InlineData("yes", nameof(SmsKeyword.OptIn))]
    [InlineData("HELP", nameof(SmsKeyword.Help))]
    [InlineData("info", nameof(SmsKeyword.Help))]
    [InlineData("STOP PLEASE", nameof(SmsKeyword.None))]
    [InlineData("STOP.", nameof(SmsKeyword.None))]
    [InlineData("", nameof(SmsKeyword.None))]
    [InlineData(null, nameof(SmsKeyword.None))]
    public void Keywords_are_whole_messages_with_case_and_surrounding_spaces_ignored(string? body, string expected) =>
        SmsKeywords.Classify(body).ShouldBe(Enum.Parse<SmsKeyword>(expected));
}
