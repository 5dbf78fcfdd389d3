using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Backstop.Tests.Support;

/// <summary>A second application instance on the same database and clock as <paramref name="original"/>.</summary>
public sealed class SiblingFactory(BackstopFactory original, IDictionary<string, string?>? overrides = null) : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in original.Settings) builder.UseSetting(key, value);
        if (overrides is not null)
            foreach (var (key, value) in overrides) builder.UseSetting(key, value);
        builder.ConfigureTestServices(services =>
        {
            services.RemoveAll<TimeProvider>();
            services.AddSingleton<TimeProvider>(original.Time);
            services.AddTransient<IStartupFilter, TestClientIpStartupFilter>();
        });
    }

    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestClientIpStartupFilter.SetAddress(client, TestClientIpStartupFilter.RandomAddress());
    }
}
