using System.Text;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage.SQLite;

namespace Backstop.Infrastructure.Jobs;

internal static class JobsExtensions
{
    public static IServiceCollection AddJobs(this IServiceCollection services)
    {
        services.AddCheckedOptions<JobsOptions>(JobsOptions.Section);
        services.AddHangfire(c => c
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings());

        // Our own storage instance rather than the static JobStorage.Current: several hosts in one process (tests,
        // or two databases) must not share one.
        services.AddSingleton<JobStorage>(sp =>
        {
            var database = sp.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            var jobs = sp.GetRequiredService<IOptions<JobsOptions>>().Value;
            if (database.Dialect == Dialect.Postgres)
            {
                var storageOptions = new PostgreSqlStorageOptions
                {
                    SchemaName = "hangfire",
                    PrepareSchemaIfNecessary = true,
                    QueuePollInterval = TimeSpan.FromSeconds(jobs.PollIntervalSeconds),
                };
                return new PostgreSqlStorage(new NpgsqlConnectionFactory(database.ConnectionString!, storageOptions), storageOptions);
            }
            if (jobs.Storage.Equals(JobsOptions.MemoryStorage, StringComparison.OrdinalIgnoreCase))
            {
                // All durable state of ours lives in our tables; in memory Hangfire only holds schedules and queues,
                // which every start re-registers, and the dashboard's history, which a restart loses.
                return new InMemoryStorage(new InMemoryStorageOptions());
            }
            var file = Path.GetFullPath(jobs.SqliteFile);
            if (sp.GetRequiredService<Db>().SqliteFile is { Length: > 0 } main && string.Equals(Path.GetFullPath(main), file, StringComparison.Ordinal))
                throw new InvalidConfigurationException([$"Jobs:SqliteFile must not be the main database file ({file})."]);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            return new SQLiteStorage(file, new SQLiteStorageOptions
            {
                QueuePollInterval = TimeSpan.FromSeconds(jobs.PollIntervalSeconds),
            });
        });
        services.AddSingleton<IRecurringJobManager>(sp => new RecurringJobManager(sp.GetRequiredService<JobStorage>()));

        services.AddSingleton<JobRunner>();
        services.AddScoped<JobContext>();
        // With IAntiforgery registered, Hangfire's dashboard puts a token in every page and refuses (403) a POST
        // (trigger, delete, requeue) without a valid one: browsers resend cached Basic credentials, so without it
        // any page the operator visits could post to the dashboard. The key ring is in our database, so a token
        // holds across instances and restarts.
        services.AddAntiforgery();
        services.AddHostedService<RecurringJobScheduler>();
        services.AddHostedService<HangfireServerHost>();
        services.AddRecurringJob<JobRunsRetentionJob>();
        return services;
    }

    /// <summary>The dashboard at <c>/hangfire</c>, behind HTTP Basic <c>admin:&lt;admin key&gt;</c> and nothing else.</summary>
    public static WebApplication UseJobsDashboard(this WebApplication app)
    {
        app.UseWhen(c => c.Request.Path.StartsWithSegments("/hangfire"), branch => branch.Use(async (context, next) =>
        {
            var adminKey = context.RequestServices.GetRequiredService<AdminKey>();
            var header = context.Request.Headers.Authorization.ToString();
            // The password is the admin key: guesses here count towards the same lockout as bearer keys, and a
            // locked-out address is refused even with the right password.
            var lockout = context.RequestServices.GetServices<IAuthLockout>().FirstOrDefault();
            var ip = context.RequestServices.GetRequiredService<ClientIp>().Resolve(context);
            if (header.Length > 0 && lockout is not null && await lockout.LockedForAsync(ip, DashboardPrefix, context.RequestAborted) is { } before)
            {
                await LockedOutAsync(context, before);
                return;
            }
            if (!BasicCredentialsMatch(header, adminKey))
            {
                if (header.Length > 0 && lockout is not null && await lockout.RecordFailureAsync(ip, DashboardPrefix, CancellationToken.None) is { } after)
                {
                    await LockedOutAsync(context, after);
                    return;
                }
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"Backstop jobs\", charset=\"UTF-8\"";
                await Errors.Problem.WriteAsync(context, 401, "unauthorized", "The jobs dashboard needs the user 'admin' and the admin API key as password.");
                return;
            }
            if (lockout is not null && await lockout.LockedForAsync(ip, DashboardPrefix, CancellationToken.None) is { } raced)
            {
                await LockedOutAsync(context, raced);
                return;
            }
            context.Items[DashboardAccess.Granted] = true;
            await next(context);
            // Every dashboard command is a POST (trigger, remove, delete, requeue…); one that succeeded is audited.
            // In a transaction of its own after the command: Hangfire's storage is not ours to share a transaction with.
            if (HttpMethods.IsPost(context.Request.Method) && context.Response.StatusCode is >= 200 and < 300)
            {
                var jobs = context.Request.HasFormContentType ? (await context.Request.ReadFormAsync(CancellationToken.None))["jobs[]"].ToArray() : [];
                await context.RequestServices.GetRequiredService<Audit.IAuditLog>().RecordAsync(new Audit.AuditEntry(
                    Audit.AuditActions.JobsDashboardCommand, "hangfire", context.Request.Path.Value ?? "/hangfire",
                    Changes: new { command = context.Request.Path.Value, jobs }, Actor: "admin"), CancellationToken.None);
            }
        }));
        app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            Authorization = [new DashboardAccess()],
            DashboardTitle = "Backstop jobs",
            AppPath = null,
        }, app.Services.GetRequiredService<JobStorage>());
        return app;
    }

    /// <summary>What dashboard password guesses are counted under, beside the client address.</summary>
    public const string DashboardPrefix = "hangfire-dashboard";

    private static Task LockedOutAsync(HttpContext context, TimeSpan left) =>
        Errors.Problem.WriteAsync(context, 429, BearerKeyAuthentication.LockedOutCode,
            "Too many failed authentication attempts from this address; try again later.",
            headers: new Dictionary<string, string> { ["Retry-After"] = Math.Max(1, (long)Math.Ceiling(left.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) });

    internal static bool BasicCredentialsMatch(string header, AdminKey adminKey)
    {
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }
        var colon = decoded.IndexOf(':');
        if (colon < 0) return false;
        var userOk = Secrets.FixedTimeEquals(decoded[..colon], "admin");
        var passwordOk = adminKey.Matches(decoded[(colon + 1)..]);
        return userOk & passwordOk;
    }

    /// <summary>Hangfire's default lets local requests in; ours lets in only what the Basic check above admitted.</summary>
    private sealed class DashboardAccess : IDashboardAuthorizationFilter
    {
        public const string Granted = "backstop:dashboard-granted";

        public bool Authorize(DashboardContext context) =>
            context.GetHttpContext().Items.TryGetValue(Granted, out var granted) && granted is true;
    }
}
