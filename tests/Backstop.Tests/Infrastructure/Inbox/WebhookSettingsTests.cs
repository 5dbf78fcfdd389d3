using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Inbox;

public sealed class WebhookSettingsTests
{
    private static IReadOnlyList<string> ProblemsOf(Dictionary<string, string?> values)
    {
        var services = new ServiceCollection();
        services.AddProviders().AddInbox();
        var check = (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
        return check.Problems(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    [Fact]
    public void No_webhook_settings_at_all_is_valid() => ProblemsOf([]).ShouldBeEmpty();

    [Fact]
    public void Half_configured_or_malformed_providers_are_named_in_one_message()
    {
        var problems = ProblemsOf(new()
        {
            ["Twilio:AuthToken"] = "token",
            ["Clerk:WebhookSecret"] = "not-a-svix-secret!",
            ["Recall:WebhookSecret"] = "whsec_***",
            ["Stripe:WebhookSecret"] = "sk_live_oops",
            ["Deepgram:CallbackToken"] = "short",
            ["Webhooks:MaxAttempts"] = "0",
            ["Webhooks:MaxBodyBytes:Deepgram"] = "99999999999",
        });

        problems.ShouldContain(p => p.Contains("Twilio:PublicBaseUrl"));
        problems.ShouldContain(p => p.Contains("Clerk:WebhookSecret"));
        problems.ShouldContain(p => p.Contains("Recall:WebhookSecret"));
        problems.ShouldContain(p => p.Contains("Stripe:WebhookSecret"));
        problems.ShouldContain(p => p.Contains("Deepgram:CallbackToken"));
        problems.ShouldContain(p => p.Contains("Webhooks:MaxAttempts"));
        problems.ShouldContain(p => p.Contains("Webhooks:MaxBodyBytes:Deepgram"));
    }

    [Theory]
    [InlineData("Clerk")]
    [InlineData("Recall")]
    public void A_svix_secret_without_the_whsec_prefix_is_refused(string provider)
    {
        // "notwhsec" is valid base64 on its own: only the prefix shows it is not a Svix secret.
        ProblemsOf(new() { [$"{provider}:WebhookSecret"] = "notwhsec" }).ShouldContain(p => p.Contains($"{provider}:WebhookSecret"));
        ProblemsOf(new() { [$"{provider}:WebhookSecret"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }).ShouldBeEmpty();
    }

    [Fact]
    public void The_top_level_public_base_url_serves_twilio_and_is_required_by_deepgram()
    {
        ProblemsOf(new() { ["Twilio:AuthToken"] = "token", ["PublicBaseUrl"] = "https://backstop.example.com" }).ShouldBeEmpty();
        ProblemsOf(new() { ["Twilio:AuthToken"] = "token" }).ShouldContain(p => p.Contains("Twilio:PublicBaseUrl"));
        ProblemsOf(new() { ["Deepgram:ApiKey"] = "dg-key" }).ShouldContain(p => p.StartsWith("PublicBaseUrl is required", StringComparison.Ordinal));
        ProblemsOf(new() { ["Deepgram:ApiKey"] = "dg-key", ["PublicBaseUrl"] = "https://backstop.example.com" }).ShouldBeEmpty();
        ProblemsOf(new() { ["PublicBaseUrl"] = "backstop.example.com" }).ShouldContain(p => p.Contains("absolute http(s) URL"));
    }

    [Fact]
    public void Twilio_falls_back_to_the_top_level_public_base_url()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twilio:AuthToken"] = "token",
            ["PublicBaseUrl"] = "https://backstop.example.com",
        }).Build());
        services.AddProviders();
        using var provider = services.BuildServiceProvider();
        var twilio = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<Backstop.Infrastructure.Providers.Twilio.TwilioOptions>>().Value;
        twilio.PublicBaseUrl.ShouldBe("https://backstop.example.com");
        twilio.StatusCallbackUrl.ShouldBe("https://backstop.example.com/webhooks/twilio/status");
    }

    [Fact]
    public void Retry_delays_double_from_the_base_up_to_the_cap()
    {
        var options = new WebhooksOptions { RetryBaseDelaySeconds = 60, RetryMaxDelaySeconds = 600 };
        options.RetryDelay(1).ShouldBe(TimeSpan.FromSeconds(60));
        options.RetryDelay(2).ShouldBe(TimeSpan.FromSeconds(120));
        options.RetryDelay(4).ShouldBe(TimeSpan.FromSeconds(480));
        options.RetryDelay(5).ShouldBe(TimeSpan.FromSeconds(600));
        options.RetryDelay(1000).ShouldBe(TimeSpan.FromSeconds(600));
    }
}
