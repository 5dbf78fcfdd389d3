using Backstop.Infrastructure.Inbox;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace Backstop.Tests.Infrastructure.Inbox;

public sealed class RequestBodyLimitsTests
{
    [Fact]
    public void Each_webhook_route_gets_its_providers_limit_and_the_rest_of_the_API_1_MiB()
    {
        var limits = new WebhookBodyLimits();
        RequestBodyLimits.For(new PathString("/webhooks/deepgram"), limits).ShouldBe(64L * 1024 * 1024);
        RequestBodyLimits.For(new PathString("/webhooks/deepgram/"), limits).ShouldBe(64L * 1024 * 1024);
        RequestBodyLimits.For(new PathString("/webhooks/stripe"), limits).ShouldBe(1024L * 1024);
        RequestBodyLimits.For(new PathString("/webhooks/twilio/sms"), limits).ShouldBe(1024L * 1024);
        RequestBodyLimits.For(new PathString("/v1/meetings"), limits).ShouldBe(1024L * 1024);
        RequestBodyLimits.For(new PathString("/v1/webhooks/deepgram"), limits).ShouldBe(1024L * 1024);
        RequestBodyLimits.For(new PathString("/webhooks/recall"), new WebhookBodyLimits { Recall = 4096 }).ShouldBe(4096);
    }

    [Fact]
    public void Kestrels_global_limit_is_raised_to_the_largest_configured_one()
    {
        var kestrel = new KestrelServerOptions();
        RequestBodyLimits.ConfigureKestrel(new ConfigurationBuilder().Build(), kestrel);
        kestrel.Limits.MaxRequestBodySize.ShouldBe(64L * 1024 * 1024);

        RequestBodyLimits.ConfigureKestrel(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Webhooks:MaxBodyBytes:Deepgram"] = "2048", ["Webhooks:MaxBodyBytes:Paddle"] = "3000000",
        }).Build(), kestrel);
        kestrel.Limits.MaxRequestBodySize.ShouldBe(3_000_000);
    }
}
