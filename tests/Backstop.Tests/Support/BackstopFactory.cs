using System.Data.Common;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace Backstop.Tests.Support;

/// <summary>
/// The application over a fresh database of its own, with only the edges replaced: the clock
/// (<see cref="FakeTimeProvider"/>), the admin key, and what the test class's <see cref="AppSetup"/> adds. One
/// factory per dialect (<see cref="SqliteApp{TSetup}"/>, <see cref="PostgresApp{TSetup}"/>); what differs between test
/// classes is the setup type, never a factory subclass.
/// </summary>
public abstract class BackstopFactory(AppSetup setup) : WebApplicationFactory<Program>, IAsyncLifetime
{
    public const string AdminKey = "test-admin-key-0123456789abcdef0123456789";

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Settings every app of this factory gets; a sibling on the same database shares them.</summary>
    public Dictionary<string, string?> Settings { get; } = new()
    {
        ["Admin:ApiKey"] = AdminKey,
        ["Jobs:RunServer"] = "false",
        // Test clients call from 198.18.0.0/15 (TestClientIpStartupFilter), which is neither loopback nor private.
        ["Observability:MetricsAllowFrom:0"] = "198.18.0.0/15",
        ["Serilog:MinimumLevel:Default"] = "Warning",
    };

    public abstract string DatabaseKind { get; }

    /// <summary>The test class's setup: its settings, services and local provider servers.</summary>
    public AppSetup Setup { get; } = setup;

    /// <summary>The setup as its own type, for its servers (<c>App.SetupAs&lt;MessagingSetup&gt;().Twilio</c>).</summary>
    public T SetupAs<T>() where T : AppSetup => (T)Setup;

    /// <summary>Called before the first app starts: creates the database and fills <see cref="Settings"/>.</summary>
    protected abstract Task PrepareDatabaseAsync();

    public async ValueTask InitializeAsync()
    {
        await Setup.StartAsync();
        await PrepareDatabaseAsync();
        Setup.Configure(Settings);
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
            Setup.ConfigureServices(services);
        });
    }

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
        await Setup.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public abstract class SqliteFactory(AppSetup setup) : BackstopFactory(setup)
{
    public override string DatabaseKind => "sqlite";

    public string File { get; } = Path.Combine(Path.GetTempPath(), "backstop-tests", Guid.NewGuid().ToString("N") + ".db");

    protected override Task PrepareDatabaseAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(File)!);
        Settings["Database:Provider"] = "sqlite";
        Settings["Database:ConnectionString"] = $"Data Source={File}";
        // Hangfire's own SQLite file (Jobs:Storage=sqlite), beside this app's database rather than a shared ./data.
        Settings["Jobs:SqliteFile"] = Path.ChangeExtension(File, ".hangfire.db");
        return Task.CompletedTask;
    }
}

public abstract class PostgresFactory(PostgresServer server, AppSetup setup) : BackstopFactory(setup)
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

/// <summary>The application on a fresh SQLite file, set up by <typeparamref name="TSetup"/>.</summary>
public sealed class SqliteApp<TSetup>() : SqliteFactory(new TSetup()) where TSetup : AppSetup, new();

/// <summary>The application on a fresh database of the tests' PostgreSQL server, set up by <typeparamref name="TSetup"/>.</summary>
public sealed class PostgresApp<TSetup>(PostgresServer server) : PostgresFactory(server, new TSetup()) where TSetup : AppSetup, new();

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
