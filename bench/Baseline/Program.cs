using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;

// The yardstick the bench scripts compare Backstop with, on the same machine in the same run:
//   GET  /json     a small JSON answer straight from Kestrel;
//   POST /events   stores the body under its JSON "id" with one durable insert (`on conflict do nothing`) and
//                  answers 200 after the commit. SQLite: WAL with synchronous=FULL, so every commit is fsynced.
//                  PostgreSQL (--postgres <connection string>): synchronous_commit=on, the server's default.
// Nothing else: no logging, no authentication, no signature check.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();

var postgres = app.Configuration["postgres"];
var sqliteFile = app.Configuration["sqlite"] ?? Path.Combine(Path.GetTempPath(), $"baseline-{Environment.ProcessId}.db");
IEventStore store = string.IsNullOrEmpty(postgres) ? new SqliteEventStore(sqliteFile) : new PostgresEventStore(postgres);
await store.InitializeAsync();

var hello = JsonSerializer.SerializeToUtf8Bytes(new { organization = new { id = "org", slug = "bench", name = "Bench" }, key = new { id = "key", prefix = "bsk_live_x", scopes = new[] { "read", "write" } } });
app.MapGet("/json", (HttpContext context) =>
{
    context.Response.ContentType = "application/json";
    return context.Response.Body.WriteAsync(hello).AsTask();
});

app.MapPost("/events", async (HttpContext context) =>
{
    using var reader = new StreamReader(context.Request.Body);
    var body = await reader.ReadToEndAsync();
    string? id;
    try
    {
        using var doc = JsonDocument.Parse(body);
        id = doc.RootElement.TryGetProperty("id", out var p) ? p.GetString() : null;
    }
    catch (JsonException)
    {
        id = null;
    }
    if (id is null) return Results.BadRequest();
    await store.InsertAsync(id, body);
    return Results.Ok();
});

await app.RunAsync();

internal interface IEventStore
{
    Task InitializeAsync();
    Task InsertAsync(string id, string body);
}

internal sealed class SqliteEventStore(string file) : IEventStore
{
    private readonly string connectionString = new SqliteConnectionStringBuilder { DataSource = file, Pooling = true, DefaultTimeout = 30 }.ToString();

    // Physical connections already set up (pooling hands the same native handle out again).
    private readonly ConcurrentDictionary<SQLitePCL.sqlite3, bool> configured = new();

    public async Task InitializeAsync()
    {
        await using var c = await OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "pragma journal_mode = wal; create table if not exists events (id text primary key, body text not null)";
        await cmd.ExecuteNonQueryAsync();
    }

    private async Task<SqliteConnection> OpenAsync()
    {
        var c = new SqliteConnection(connectionString);
        await c.OpenAsync();
        if (configured.TryAdd(c.Handle!, true))
        {
            await using var pragma = c.CreateCommand();
            pragma.CommandText = "pragma busy_timeout = 30000; pragma synchronous = full;";
            await pragma.ExecuteNonQueryAsync();
        }
        return c;
    }

    public async Task InsertAsync(string id, string body)
    {
        await using var c = await OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "insert into events (id, body) values ($id, $body) on conflict (id) do nothing";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$body", body);
        await cmd.ExecuteNonQueryAsync();
    }
}

internal sealed class PostgresEventStore(string connectionString) : IEventStore
{
    private readonly NpgsqlDataSource dataSource = NpgsqlDataSource.Create(connectionString);

    public async Task InitializeAsync()
    {
        await using var cmd = dataSource.CreateCommand("create table if not exists baseline_events (id text primary key, body text not null)");
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task InsertAsync(string id, string body)
    {
        await using var cmd = dataSource.CreateCommand("insert into baseline_events (id, body) values ($1, $2) on conflict (id) do nothing");
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(body);
        await cmd.ExecuteNonQueryAsync();
    }
}
