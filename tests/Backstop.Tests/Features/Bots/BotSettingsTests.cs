using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Features.Bots;

public sealed class BotSettingsTests
{
    private static IReadOnlyList<string> ProblemsOf(Dictionary<string, string?> values)
    {
        var services = new ServiceCollection();
        services.AddProviders();
        var check = (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
        return check.Problems(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    [Fact]
    public void Start_is_refused_with_a_Recall_api_key_but_no_webhook_secret_naming_both_keys()
    {
        var problems = ProblemsOf(new() { ["Recall:ApiKey"] = "key" });
        problems.ShouldContain(p => p.Contains("Recall:WebhookSecret") && p.Contains("Recall:ApiKey"));
        ProblemsOf(new() { ["Recall:ApiKey"] = "key", ["Recall:WebhookSecret"] = BotsSetup.RecallWebhookSecret }).ShouldBeEmpty();
    }

    [Fact]
    public void The_Deepgram_token_lifetime_is_checked()
    {
        ProblemsOf(new() { ["Deepgram:CallbackTokenHours"] = "0" }).ShouldContain(p => p.Contains("Deepgram:CallbackTokenHours"));
    }
}
