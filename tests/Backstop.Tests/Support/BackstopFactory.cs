using System.Data.Common;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Backstop.Infrastructure.Data;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace Backstop.Tests.Support;

/// <summary>
/// The application over a fresh database of its own, with only the edges replaced: the clock
/// (<see cref="FakeTimeProvider"/>), the admin key, and whatever settings a test class adds.
/// </summary>
public abstract class BackstopFactory : WebApplicationFactory<Program>, IAsyncLifetime
{
    public const string AdminKey = "test-admin-key-0123456789abcdef0123456789";

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Settings every app of this factory gets; a sibling on the same database shares them.</summary>
    public Dictionary<string, string?> Settings { get; } = new()
    {
        ["Admin:ApiKey"] = AdminKey,
        ["Jobs:RunServer"] = "false",
        ["Serilog:MinimumLevel:Default"] = "Warning",
    };

    public abstract string DatabaseKind { get; }

    /// <summary>Called before the first app starts: creates the database and fills <see cref="Settings"/>.</summary>
    protected abstract Task PrepareDatabaseAsync();

    /// <summary>Extra settings for this test class, applied before the app starts.</summary>
    protected virtual void Configure(Dictionary<string, string?> settings) { }

    public virtual async ValueTask InitializeAsync()
    {
        await PrepareDatabaseAsync();
        Configure(Settings);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in Settings) builder.UseSetting(key, value);
        builder.ConfigureTestServices(services =>
        {
            services.RemoveAll<TimeProvider>();
            services.AddSingleton<TimeProvider>(Time);
            services.AddTransient<IStartupFilter, TestClientIpStartupFilter>();
            ConfigureTestServices(services);
        });
    }

    protected virtual void ConfigureTestServices(IServiceCollection services) { }

    /// <summary>Every client is a different machine: a random client address (see <see cref="TestClientIpStartupFilter"/>).</summary>
    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        TestClientIpStartupFilter.SetAddress(client, TestClientIpStartupFilter.RandomAddress());
    }

    /// <summary>A client with this key, calling from <paramref name="clientIp"/>.</summary>
    public HttpClient ClientWithKey(string key, string clientIp)
    {
        var client = ClientWithKey(key);
        TestClientIpStartupFilter.SetAddress(client, clientIp);
        return client;
    }

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    public HttpClient AdminClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }

    public HttpClient ClientWithKey(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async Task<DbConnection> OpenAsync() => await Service<Db>().OpenAsync();

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public class SqliteFactory : BackstopFactory
{
    public override string DatabaseKind => "sqlite";

    public string File { get; } = Path.Combine(Path.GetTempPath(), "backstop-tests", Guid.NewGuid().ToString("N") + ".db");

    protected override Task PrepareDatabaseAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(File)!);
        Settings["Database:Provider"] = "sqlite";
        Settings["Database:ConnectionString"] = $"Data Source={File}";
        return Task.CompletedTask;
    }
}

public class PostgresFactory(PostgresServer server) : BackstopFactory
{
    public override string DatabaseKind => "postgres";

    public PostgresServer Postgres { get; } = server;

    protected override async Task PrepareDatabaseAsync()
    {
        if (Postgres.ConnectionString is null)
        {
            // Under CI a missing PostgreSQL is a failure, never a silent skip.
            if (PostgresServer.InCi) throw new InvalidOperationException(Postgres.UnavailableReason);
            return;
        }
        Settings["Database:Provider"] = "postgres";
        Settings["Database:ConnectionString"] = await Postgres.CreateDatabaseAsync();
    }
}

public static class Http
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Asserts the response is problem+json with this status and code, and returns the body.</summary>
    public static async Task<JsonElement> ShouldBeProblemAsync(this HttpResponseMessage response, int status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Shouldly.ShouldBeTestExtensions.ShouldBe((int)response.StatusCode, status, body);
        Shouldly.ShouldBeStringTestExtensions.ShouldBe(response.Content.Headers.ContentType?.MediaType, "application/problem+json", body);
        var json = JsonDocument.Parse(body).RootElement.Clone();
        Shouldly.ShouldBeStringTestExtensions.ShouldBe(json.GetProperty("code").GetString(), code, body);
        Shouldly.ShouldBeTestExtensions.ShouldBe(json.GetProperty("status").GetInt32(), status);
        return json;
    }

    public static Task<HttpResponseMessage> PostJsonAsync<T>(this HttpClient client, string url, T body) =>
        client.PostAsJsonAsync(url, body, Json);
}
