using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using WireMock.Logging;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Backstop.Tests.Features.Cleanup;

/// <summary>
/// The app with a local Recall (its <c>leave_call</c> endpoint: 200; bot ids containing <c>completed</c> answer 400
/// <c>cannot_command_completed_bot</c>, ids containing <c>recall-error</c> answer 500), files in a temporary folder
/// behind <see cref="FaultyFileStore"/>, and the outbox driven by the tests.
/// </summary>
public class CleanupSetup : AppSetup
{
    public const string RecallApiKey = "recall-cleanup-test-key";

    private readonly WireMockServer recall = WireMockServer.Start();

    public string FilesPath { get; } = Path.Combine(Path.GetTempPath(), "backstop-cleanup-files-" + Guid.NewGuid().ToString("N")[..12]);
    public string MailPath { get; } = Path.Combine(Path.GetTempPath(), "backstop-cleanup-mail-" + Guid.NewGuid().ToString("N")[..12]);
    public FileStoreFaults Faults { get; } = new();

    /// <summary>What this Recall answers to <c>GET /api/v1/bot/{id}/</c>: the bot's current status; a bot not listed here it does not know (404).</summary>
    public ConcurrentDictionary<string, string> BotStatuses { get; } = new();

    public CleanupSetup()
    {
        recall.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/$")).UsingGet())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries)[3];
                var known = BotStatuses.TryGetValue(id, out var status);
                return new WireMock.ResponseMessage
                {
                    StatusCode = known ? 200 : 404,
                    Headers = new Dictionary<string, WireMock.Types.WireMockList<string>> { ["Content-Type"] = new("application/json") },
                    BodyData = new WireMock.Util.BodyData
                    {
                        DetectedBodyType = WireMock.Types.BodyType.String,
                        BodyAsString = known
                            ? System.Text.Json.JsonSerializer.Serialize(new { id, status_changes = new[] { new { code = status, sub_code = (string?)null, created_at = "2026-11-23T12:30:00Z" } }, recordings = Array.Empty<object>() })
                            : "{\"detail\":\"Not found.\"}",
                    },
                };
            }));
        // Every bot here was dispatched (they are in calls): Recall answers DELETE with 405, as it does once a bot is dispatched.
        recall.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/$")).UsingDelete())
            .RespondWith(Response.Create().WithStatusCode(405).WithHeader("Content-Type", "application/json").WithBody("{\"detail\":\"Method \\\"DELETE\\\" not allowed.\"}"));
        recall.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/leave_call/$")).UsingPost())
            .AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("{}"));
        recall.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]*completed[^/]*/leave_call/$")).UsingPost())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(400).WithHeader("Content-Type", "application/json")
                .WithBody("{\"code\":\"cannot_command_completed_bot\",\"detail\":\"Cannot command completed bot.\"}"));
        recall.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]*recall-error[^/]*/leave_call/$")).UsingPost())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(500).WithHeader("Content-Type", "application/json").WithBody("{\"detail\":\"fake failure\"}"));
    }

    public IReadOnlyList<ILogEntry> BotGets(string botId) =>
        recall.LogEntries.Where(e => e.RequestMessage.Path == $"/api/v1/bot/{botId}/" && e.RequestMessage.Method == "GET").ToList();

    public IReadOnlyList<ILogEntry> LeaveCalls(string botId) =>
        recall.LogEntries.Where(e => e.RequestMessage.Path == $"/api/v1/bot/{botId}/leave_call/" && e.RequestMessage.Method == "POST").ToList();

    public override async ValueTask StartAsync()
    {
        // WireMock's first answer can take seconds on a busy machine (matchers, JIT): longer than the client timeout.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await http.PostAsync(recall.Urls[0] + "/api/v1/bot/bot_warmup/leave_call/", null);
        await http.PostAsync(recall.Urls[0] + "/api/v1/bot/bot_completed_warmup/leave_call/", null);
        await http.PostAsync(recall.Urls[0] + "/api/v1/bot/bot_recall-error_warmup/leave_call/", null);
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Recall:ApiKey"] = RecallApiKey;
        settings["Recall:WebhookSecret"] = Backstop.Tests.Features.Bots.BotsSetup.RecallWebhookSecret;
        settings["Recall:BaseUrl"] = recall.Urls[0];
        settings["Recall:TimeoutSeconds"] = "10";
        settings["Storage:LocalPath"] = FilesPath;
        settings["Email:PickupFolder"] = MailPath;
    }

    public override void ConfigureServices(IServiceCollection services)
    {
        services.RemoveAll<IFileStore>();
        services.AddSingleton<IFileStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StorageOptions>>();
            IFileStore inner = options.Value.IsS3 ? new S3FileStore(options) : new LocalFileStore(options);
            return new FaultyFileStore(inner, Faults);
        });
    }

    public override async ValueTask DisposeAsync()
    {
        recall.Stop();
        foreach (var dir in new[] { FilesPath, MailPath })
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        await base.DisposeAsync();
    }
}

/// <summary>The cleanup app with S3 storage on s3rver.</summary>
public sealed class CleanupS3Setup : CleanupSetup
{
    public S3rverServer S3 { get; } = new();

    public override async ValueTask StartAsync()
    {
        await base.StartAsync();
        await S3.StartAsync();
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        S3.Apply(settings);
    }

    public override async ValueTask DisposeAsync()
    {
        await S3.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>Faults injected into the real store: a delete of a key containing <see cref="FailMarker"/> throws; one containing <see cref="GateMarker"/> waits for <see cref="Release"/>.</summary>
public sealed class FileStoreFaults
{
    public const string FailMarker = "undeletable";
    public const string GateMarker = "gated";

    public TaskCompletionSource Entered { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Reset()
    {
        Entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

internal sealed class FaultyFileStore(IFileStore inner, FileStoreFaults faults) : IFileStore
{
    public Task<StoredFile> PutAsync(string key, Stream content, string contentType, CancellationToken ct) => inner.PutAsync(key, content, contentType, ct);

    public Task<FileDownload?> OpenReadAsync(string key, CancellationToken ct) => inner.OpenReadAsync(key, ct);

    public async Task DeleteAsync(string key, CancellationToken ct)
    {
        if (key.Contains(FileStoreFaults.FailMarker, StringComparison.Ordinal)) throw new IOException($"Injected failure deleting {key}");
        if (key.Contains(FileStoreFaults.GateMarker, StringComparison.Ordinal))
        {
            faults.Entered.TrySetResult();
            await faults.Release.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        }
        await inner.DeleteAsync(key, ct);
    }
}

/// <summary>Rows of the Bots slice's tables as the sweeps find them, written directly (the tests arrange state, run the job, query).</summary>
internal static class CleanupRows
{
    public static async Task<string> InsertMeetingAsync(this BackstopFactory app, string organizationId, string status, DateTimeOffset updatedAt,
        string? botId = null, string? externalUserId = null, DateTimeOffset? deletedAt = null, string? audioKey = null, long? audioSize = null)
    {
        var id = Ids.New(app.Time);
        await using var connection = await app.OpenAsync();
        await connection.ExecuteAsync(
            """
            insert into meetings (id, organization_id, title, meeting_url, normalized_url, external_user_id, status, bot_id, bot_status,
                                  bot_status_at, audio_key, audio_size, audio_content_type, created_at, updated_at, deleted_at)
            values (@id, @organizationId, 'Weekly sync', @url, @url, @externalUserId, @status, @botId, @botStatus,
                    @updatedAt, @audioKey, @audioSize, @contentType, @updatedAt, @updatedAt, @deletedAt)
            """,
            new
            {
                id, organizationId, url = "https://zoom.us/j/" + id, externalUserId, status, botId,
                botStatus = botId is null ? null : "in_call_recording", updatedAt, audioKey, audioSize,
                contentType = audioKey is null ? null : "audio/mpeg", deletedAt,
            });
        return id;
    }

    public static async Task InsertMeetingsAsync(this BackstopFactory app, string organizationId, int count, DateTimeOffset updatedAt, string externalUserId)
    {
        await using var connection = await app.OpenAsync();
        await using var tx = await Db.BeginAsync(connection);
        var rows = Enumerable.Range(0, count).Select(_ =>
        {
            var id = Ids.New(app.Time);
            return new { id, organizationId, url = "https://zoom.us/j/" + id, externalUserId, botId = "bot_" + Guid.NewGuid().ToString("N"), updatedAt };
        }).ToList();
        await connection.ExecuteAsync(
            """
            insert into meetings (id, organization_id, title, meeting_url, normalized_url, external_user_id, status, bot_id, bot_status,
                                  created_at, updated_at)
            values (@id, @organizationId, 'Standup', @url, @url, @externalUserId, 'recording', @botId, 'in_call_recording', @updatedAt, @updatedAt)
            """, rows, tx);
        await tx.CommitAsync();
    }

    public static async Task AddMemberAsync(this BackstopFactory app, string organizationId, string? externalUserId, string email, string role = "member")
    {
        var response = await app.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/members", new { externalUserId, email, role });
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Adding a member answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    public static async Task<T> ScalarAsync<T>(this BackstopFactory app, string sql, object? args = null)
    {
        await using var connection = await app.OpenAsync();
        return (await connection.ExecuteScalarAsync<T>(sql, args))!;
    }

    public static Task<int> DispatchAsync(this BackstopFactory app) => app.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
}

/// <summary>
/// Counts the SQL statements the database runs while it is on: on SQLite through the connection's trace hook (every
/// statement the engine starts, on every connection the app's <see cref="Db"/> opens), on PostgreSQL through Npgsql's
/// activity per command, kept to this app's database. Connection and transaction control (pragmas, begin, commit) and
/// the job runner's own bookkeeping (job_leases, job_runs) are kept apart from the work.
/// </summary>
internal sealed class StatementCounter : IDisposable
{
    private readonly ConcurrentQueue<string> statements = new();
    private readonly ActivityListener? listener;
    private readonly Db db;
    private volatile bool on = true;

    public StatementCounter(BackstopFactory app)
    {
        db = app.Service<Db>();
        if (db.Dialect == Dialect.Postgres)
        {
            var database = new Npgsql.NpgsqlConnectionStringBuilder(app.Settings["Database:ConnectionString"]).Database;
            listener = new ActivityListener
            {
                ShouldListenTo = s => s.Name == "Npgsql",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                // Npgsql sets its tags (db.namespace, db.query.text) after starting the activity: read them at its end.
                ActivityStopped = a =>
                {
                    if (!on || !a.TagObjects.Any(t => t.Key == "db.namespace" && t.Value as string == database)) return;
                    var sql = a.TagObjects.FirstOrDefault(t => t.Key == "db.query.text").Value as string;
                    statements.Enqueue(sql ?? a.DisplayName);
                },
            };
            ActivitySource.AddActivityListener(listener);
        }
        else
        {
            db.Opened = connection =>
            {
                var handle = ((SqliteConnection)connection).Handle;
                SQLitePCL.raw.sqlite3_trace(handle, (_, sql) => { if (on) statements.Enqueue(sql); }, null);
            };
        }
    }

    public IReadOnlyList<string> All => statements.ToList();

    /// <summary>Statements that read or change data, other than the job runner's bookkeeping.</summary>
    public IReadOnlyList<string> Work => All.Where(s => !IsControl(s) && !IsJobBookkeeping(s)).ToList();

    private static bool IsControl(string sql)
    {
        var head = sql.TrimStart().Split((char[])[' ', '\n', '\r', '\t', ';'], 2)[0].ToLowerInvariant();
        return head is "pragma" or "begin" or "commit" or "rollback" or "savepoint" or "release" or "set" or "discard";
    }

    private static bool IsJobBookkeeping(string sql) => sql.Contains("job_leases", StringComparison.Ordinal) || sql.Contains("job_runs", StringComparison.Ordinal);

    public void Dispose()
    {
        on = false;
        listener?.Dispose();
        if (db.Dialect == Dialect.Sqlite) db.Opened = null;
    }
}
