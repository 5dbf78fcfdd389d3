using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;

// The yardstick the bench scripts compare Backstop with, on the same machine in the same run:
//   GET  /json     a small JSON answer straight from Kestrel;
//   POST /events   stores the body under its JSON "id" with one durable insert (`on conflict do nothing`) and
//                  answers 200 after the commit. SQLite: WAL with synchronous=FULL, so every commit is fsynced.
//                  PostgreSQL (--postgres <connection string>): synchronous_commit=on, the server's default.
//   POST /consume  the quota yardstick: one fsync'd single-row `update … set used = used + 1 where used < limit
//                  returning used` (200 with the count, 403 at the limit); GET /counter shows it, PUT /counter?limit=N
//                  sets the limit. Same durability as /events.
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

app.MapPost("/consume", async () => await store.ConsumeAsync() is { } used ? Results.Ok(new { used }) : Results.StatusCode(403));
app.MapGet("/counter", async () => Results.Ok(await store.CounterAsync()));
app.MapPut("/counter", async (long limit) =>
{
    await store.SetLimitAsync(limit);
    return Results.Ok(await store.CounterAsync());
});

await app.RunAsync();

internal sealed record Counter(long Used, long Limit);

internal interface IEventStore
{
    Task InitializeAsync();
    Task InsertAsync(string id, string body);
    Task<long?> ConsumeAsync();
    Task<Counter> CounterAsync();
    Task SetLimitAsync(long limit);
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
        cmd.CommandText = "pragma journal_mode = wal; create table if not exists events (id text primary key, body text not null); "
            + "create table if not exists counters (id integer primary key, used integer not null, lim integer not null); "
            + "insert into counters (id, used, lim) values (1, 0, 9223372036854775807) on conflict (id) do nothing";
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<long?> ConsumeAsync()
    {
        await using var c = await OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "update counters set used = used + 1 where id = 1 and used < lim returning used";
        return await cmd.ExecuteScalarAsync() is long used ? used : null;
    }

    public async Task<Counter> CounterAsync()
    {
        await using var c = await OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "select used, lim from counters where id = 1";
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new Counter(reader.GetInt64(0), reader.GetInt64(1));
    }

    public async Task SetLimitAsync(long limit)
    {
        await using var c = await OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "update counters set lim = $limit where id = 1";
        cmd.Parameters.AddWithValue("$limit", limit);
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
        await using var cmd = dataSource.CreateCommand("create table if not exists baseline_events (id text primary key, body text not null); "
            + "create table if not exists baseline_counters (id integer primary key, used bigint not null, lim bigint not null); "
            + "insert into baseline_counters (id, used, lim) values (1, 0, 9223372036854775807) on conflict (id) do nothing");
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<long?> ConsumeAsync()
    {
        await using var cmd = dataSource.CreateCommand("update baseline_counters set used = used + 1 where id = 1 and used < lim returning used");
        return await cmd.ExecuteScalarAsync() is long used ? used : null;
    }

    public async Task<Counter> CounterAsync()
    {
        await using var cmd = dataSource.CreateCommand("select used, lim from baseline_counters where id = 1");
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new Counter(reader.GetInt64(0), reader.GetInt64(1));
    }

    public async Task SetLimitAsync(long limit)
    {
        await using var cmd = dataSource.CreateCommand("update baseline_counters set lim = $1 where id = 1");
        cmd.Parameters.AddWithValue(limit);
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
