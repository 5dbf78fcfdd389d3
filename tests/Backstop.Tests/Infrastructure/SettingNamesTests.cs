using System.Diagnostics;
using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Providers;
using Backstop.Infrastructure.Providers.Stripe;
using Backstop.Infrastructure.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serilog.Core;
using Serilog.Events;

namespace Backstop.Tests.Infrastructure;

/// <summary>A misspelt setting stops the start naming the closest known key; an old name still works and warns.</summary>
public sealed class SettingNamesTests
{
    private static ConfigurationCheck Check()
    {
        var services = new ServiceCollection();
        services.AddData().AddSecurity().AddJobs().AddProviders();
        return (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
    }

    private static IReadOnlyList<string> ProblemsOf(Dictionary<string, string?> values) =>
        Check().Problems(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

    [Fact]
    public void A_misspelt_key_in_a_known_section_is_named_with_the_closest_known_key()
    {
        var problems = ProblemsOf(new()
        {
            ["Stripe:BaseUlr"] = "https://api.stripe.com",
            ["Jobs:WorkerCont"] = "4",
            ["Database:ConectionString"] = "Data Source=x.db",
        });
        problems.ShouldContain("Stripe:BaseUlr is not a setting; did you mean Stripe:BaseUrl?");
        problems.ShouldContain("Jobs:WorkerCont is not a setting; did you mean Jobs:WorkerCount?");
        problems.ShouldContain("Database:ConectionString is not a setting; did you mean Database:ConnectionString?");
    }

    [Fact]
    public void A_key_like_no_known_one_is_named_with_the_sections_settings()
    {
        var problem = ProblemsOf(new() { ["Stripe:Colour"] = "blue" }).ShouldHaveSingleItem();
        problem.ShouldStartWith("Stripe:Colour is not a setting; Stripe's settings are ");
        problem.ShouldContain("BaseUrl");
        problem.ShouldContain("WebhookSecret");
    }

    [Fact]
    public void Known_keys_in_any_case_nested_values_and_unchecked_sections_are_not_reported()
    {
        ProblemsOf(new()
        {
            ["stripe:baseurl"] = "https://proxy.example.com", // the binder ignores case: so does the check
            ["STRIPE:TIMEOUTSECONDS"] = "20",
            ["Jobs:Schedules:job-runs-retention"] = "0 3 * * *", // a dictionary of the options class, checked by it
            ["Security:TrustedProxies:0"] = "10.0.0.1",
            ["Serilog:MinimumLevel:Default"] = "Warning", // not a section of ours
            ["SomethingElse:Anything"] = "x",
        }).ShouldBeEmpty();
    }

    [Fact]
    public void The_old_name_of_stripes_address_is_read_as_the_new_one()
    {
        var problems = ProblemsOf(new() { ["Stripe:ApiBase"] = "not a url" });
        problems.ShouldBe(["Stripe:BaseUrl must be an absolute http(s) URL (got 'not a url')."]); // checked as the new name

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Stripe:ApiBase"] = "http://127.0.0.1:12111/" }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddOptions<StripeOptions>().BindConfiguration(StripeOptions.Section);
        services.AddSettingAlias<StripeOptions>(StripeOptions.Section, "ApiBase", nameof(StripeOptions.BaseUrl));
        using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IOptions<StripeOptions>>().Value.BaseUrl.ShouldBe("http://127.0.0.1:12111/");
        Check().DeprecatedKeys(configuration).ShouldBe([("Stripe:ApiBase", "Stripe:BaseUrl")]);
    }

    [Fact]
    public async Task A_misspelt_setting_stops_the_start_of_the_binary_naming_the_closest_key()
    {
        var workDir = Directory.CreateTempSubdirectory("backstop-settings-").FullName;
        try
        {
            var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "backstop.dll"));
            // The check runs before the database is opened: were it to pass, the service would start on this file.
            start.Environment["Database__ConnectionString"] = $"Data Source={Path.Combine(workDir, "must-not-exist.db")}";
            start.Environment["Stripe__BaseUlr"] = "https://api.stripe.com";
            start.Environment.Remove("ASPNETCORE_URLS");
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("backstop started with a misspelt setting: " + await stdout);
            }
            process.ExitCode.ShouldBe(1, await stdout + await stderr);
            (await stderr).ShouldContain("Stripe:BaseUlr is not a setting; did you mean Stripe:BaseUrl?");
            File.Exists(Path.Combine(workDir, "must-not-exist.db")).ShouldBeFalse();
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    [Fact]
    public void The_old_name_wins_over_the_new_names_default_as_appsettings_json_sets_it()
    {
        ProblemsOf(new() { ["Stripe:ApiBase"] = "not a url", ["Stripe:BaseUrl"] = "https://api.stripe.com" })
            .ShouldBe(["Stripe:BaseUrl must be an absolute http(s) URL (got 'not a url')."]);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Stripe:ApiBase"] = "http://127.0.0.1:12111",
            ["Stripe:BaseUrl"] = "https://api.stripe.com",
        }).Build();
        Check().DeprecatedKeys(configuration).ShouldBe([("Stripe:ApiBase", "Stripe:BaseUrl")]);
    }

    [Fact]
    public void The_old_and_the_new_name_both_set_stop_the_start()
    {
        ProblemsOf(new() { ["Stripe:ApiBase"] = "https://a.example.com", ["Stripe:BaseUrl"] = "https://b.example.com" })
            .ShouldBe(["Stripe:ApiBase is the old name of Stripe:BaseUrl and both are set: keep only Stripe:BaseUrl."]);
    }
}

/// <summary>
/// The whole application: its own appsettings.json holds no unknown key, an old name works and warns. On SQLite only:
/// what is checked is configuration, the same on either database.
/// </summary>
public sealed class SettingNamesAppTests(SqliteApp<SettingNamesAppTests.OldNameSetup> app) : IClassFixture<SqliteApp<SettingNamesAppTests.OldNameSetup>>
{
    public sealed class OldNameSetup : AppSetup
    {
        public const string Address = "http://127.0.0.1:9/stripe";

        public override void Configure(Dictionary<string, string?> settings) => settings["Stripe:ApiBase"] = Address;

        public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILogEventSink, LogCapture>();
    }

    [Fact]
    public void Appsettings_json_holds_no_unknown_key_of_any_section()
    {
        var file = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();
        var check = app.Services.GetRequiredService<ConfigurationCheck>();
        check.UnknownKeys(file).ShouldBeEmpty();
        // The check knows every section the application registers (not only the few a unit test adds).
        check.UnknownKeys(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Quota:BatchSise"] = "5" }).Build())
            .ShouldBe(["Quota:BatchSise is not a setting; did you mean Quota:BatchSize?"]);
    }

    [Fact]
    public void The_old_name_works_and_warns_at_start()
    {
        app.Services.GetRequiredService<IOptions<StripeOptions>>().Value.BaseUrl.ShouldBe(OldNameSetup.Address);
        var capture = app.Services.GetServices<ILogEventSink>().OfType<LogCapture>().Single();
        capture.Events.ShouldContain(e => e.Level == LogEventLevel.Warning
            && e.MessageTemplate.Text.StartsWith("Setting {OldKey} is deprecated", StringComparison.Ordinal)
            && e.Properties["OldKey"].ToString() == "\"Stripe:ApiBase\"" && e.Properties["NewKey"].ToString() == "\"Stripe:BaseUrl\"");
    }
}
