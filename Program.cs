using Backstop.Features.ApiKeys;
using Backstop.Features.Billing;
using Backstop.Features.Bots;
using Backstop.Features.Cleanup;
using Backstop.Features.Messaging;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Observability;
using Backstop.Infrastructure.OperatorConsole;
using Backstop.Infrastructure.Providers;
using Backstop.Infrastructure.Stats;
using Prometheus;
using Serilog;
using Serilog.Formatting.Compact;

// `backstop [serve]` runs the service, `backstop migrate` applies migrations and exits, `backstop healthcheck [url]`
// probes a running instance (for container HEALTHCHECKs, where no curl is installed); see CommandLine.Text.
var (verb, hostArgs) = CommandLine.Parse(args);
switch (verb)
{
    case CommandLine.Verb.Help:
        await Console.Out.WriteLineAsync(CommandLine.Text);
        return 0;
    case CommandLine.Verb.Unknown:
        await Console.Error.WriteLineAsync($"Unknown command '{args[0]}'.{Environment.NewLine}{Environment.NewLine}{CommandLine.Text}");
        return CommandLine.Usage;
    case CommandLine.Verb.Healthcheck:
        return await HealthProbe.RunAsync(hostArgs);
    case CommandLine.Verb.SendTestWebhook:
        return await TestWebhook.RunAsync(hostArgs);
}
var migrateOnly = verb == CommandLine.Verb.Migrate;

Log.Logger = new LoggerConfiguration().Enrich.FromLogContext().WriteTo.Console(new RenderedCompactJsonFormatter()).CreateLogger();
try
{
    // Settings are read and validated once, at start (a change needs a restart), so the configuration files are not
    // watched: each watcher is an inotify instance, of which a user has 128 on Linux, and many instances in one
    // process (the tests' hosts, or several services of one user) ran out of them and could not start.
    var builder = WebApplication.CreateBuilder(["--hostBuilder:reloadConfigOnChange=false", .. hostArgs]);
    BackstopConfiguration.AddBinaryDirectoryFiles(builder.Configuration, builder.Environment.EnvironmentName);
    AdminPort.Listen(builder); // the main addresses (default http://localhost:8080) and those of Admin:Urls
    builder.WebHost.ConfigureKestrel((context, k) => RequestBodyLimits.ConfigureKestrel(context.Configuration, k));

    builder.Services
        .AddObservability()
        .AddData()
        .AddAudit()
        .AddSecurity()
        .AddJobs()
        .AddProviders()
        .AddInbox()
        .AddOutbox()
        .AddEvents()
        .AddEventsApi()
        .AddApiKeys()
        .AddMessaging()
        .AddApi()
        .AddBots()
        .AddCleanup()
        .AddBilling()
        .AddQuota()
        .AddOperatorConsole();
    builder.Services.AddStats(); // console-ops: hourly counts

    var app = builder.Build();
    app.Services.GetRequiredService<ConfigurationCheck>().ThrowIfInvalid(app.Configuration, app.Services.GetRequiredService<ILogger<ConfigurationCheck>>());
    await app.Services.GetRequiredService<Migrator>().MigrateAsync();
    if (migrateOnly) return 0;
    if (verb == CommandLine.Verb.AdminKeyRotate)
        return await app.Services.GetRequiredService<AdminKey>().RotateAsync(Console.Out, !Console.IsOutputRedirected, app.Services.GetRequiredService<IAuditLog>());
    await app.Services.GetRequiredService<AdminKey>().InitializeAsync(Console.Out);

    app.UseRequestId();
    app.UseSecurityHeaders();
    app.UseRequestBodyLimits();
    app.UseBackstopRequestLogging();
    app.UseProblemResponses();
    app.UseAdminPort();
    app.UseRouting();
    app.UseBackstopHttpMetrics();
    app.UseBackstopAuthentication();
    app.UseKeyRateLimits();
    app.UseAuthorization();
    app.UseBufferedJsonBodies();
    app.UseJobsDashboard();
    app.UseOperatorConsole();
    app.MapApi();
    app.MapObservability();

    await app.RunAsync();
    return 0;
}
catch (InvalidConfigurationException e)
{
    // One readable message naming every bad key; a stack trace would only bury it.
    await Console.Error.WriteLineAsync(e.Message);
    return 1;
}
catch (Exception e) when (e is not HostAbortedException)
{
    Log.Fatal(e, "Backstop stopped because of an unexpected error");
    return 1;
}
finally
{
    await Log.CloseAndFlushAsync();
}

public partial class Program;
