using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;

// The yardstick the bench scripts compare Backstop with, on the same machine in the same run:
//   GET  /json     a small JSON answer straight from Kestrel;
//   POST /events   stores the body under its JSON "id" with one durable insert (`on conflict do nothing`) and
//                  answers 200 after the commit. SQLite: WAL with synchronous=FULL, so every commit is fsynced; one
//                  writer connection behind an async lock (requests queue in memory, not in SQLite's busy handler).
//                  PostgreSQL (--postgres <connection string>): synchronous_commit=on, the server's default.
//   POST /consume  the quota yardstick: one fsync'd single-row `update … set used = used + 1 where used < limit
//                  returning used` (200 with the count, 403 at the limit); GET /counter shows it, PUT /counter?limit=N
//                  sets the limit. Same durability as /events.
//   POST /consume/{tenant}  the same decision on one counter row per tenant (the 200-organization run): `insert …
//                  on conflict do update set used = used + 1 where used < limit returning used`, one fsync'd
//                  transaction per request.
//   POST /consume-batch  the batch yardstick: a body {"items":[…]} of N consumptions, each the conditional update
//                  above on the one counter, all N in one fsync'd transaction (what a hand-written batch endpoint does).
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
app.MapPost("/consume/{tenant}", async (string tenant) => await store.ConsumeAsync(tenant) is { } used ? Results.Ok(new { used }) : Results.StatusCode(403));
app.MapPost("/consume-batch", async (HttpContext context) =>
{
    using var doc = await JsonDocument.ParseAsync(context.Request.Body);
    var count = doc.RootElement.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array ? items.GetArrayLength() : 0;
    if (count is < 1 or > 100) return Results.BadRequest();
    var answers = await store.ConsumeBatchAsync(count);
    return Results.Ok(new { items = answers.Select(u => u is { } used ? new { status = 200, used } : new { status = 403, used = 0L }) });
});
app.MapGet("/counter", async () => Results.Ok(await store.CounterAsync()));
app.MapPut("/counter", async (long limit) =>
{
    await store.SetLimitAsync(limit);
    return Results.Ok(await store.CounterAsync());
});

// The outbound-events receiver (bench/events-fanout.sh): POST /hooks/{name} counts each delivery by its
// webhook-id and the time from the event's own timestamp (its commit) to its arrival. By name: "ok…" answers 200;
// "flaky…" answers 500 to the first delivery of every second event and 200 to its retry; "slow…" holds every
// request longer than Backstop's delivery timeout. GET /hooks/{name}/stats: unique events, deliveries, duplicates
// (a second 2xx for one id), latency percentiles and the span from the first to the last 2xx.
var hooks = new ConcurrentDictionary<string, HookStats>();
app.MapPost("/hooks/{name}", async (string name, HttpContext context) =>
{
    var stats = hooks.GetOrAdd(name, _ => new HookStats());
    var id = context.Request.Headers["webhook-id"].ToString();
    using var doc = await JsonDocument.ParseAsync(context.Request.Body);
    var occurred = doc.RootElement.TryGetProperty("timestamp", out var t) && t.TryGetDateTimeOffset(out var at) ? at : DateTimeOffset.UtcNow;
    if (name.StartsWith("slow", StringComparison.Ordinal))
    {
        await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted).ContinueWith(_ => { });
        return Results.Ok();
    }
    if (name.StartsWith("flaky", StringComparison.Ordinal) && (id.GetHashCode() & 1) == 0 && stats.FirstAttempt(id))
        return Results.StatusCode(500);
    stats.Delivered(id, DateTimeOffset.UtcNow - occurred);
    return Results.Ok();
});
app.MapGet("/hooks/{name}/stats", (string name) => Results.Ok(hooks.GetOrAdd(name, _ => new HookStats()).Snapshot()));

await app.RunAsync();

internal sealed record Counter(long Used, long Limit);

internal sealed class HookStats
{
    private readonly ConcurrentDictionary<string, int> seen = new();
    private readonly ConcurrentDictionary<string, bool> failedOnce = new();
    private readonly ConcurrentBag<double> latencies = new();
    private long deliveries;
    private long firstTicks = long.MaxValue, lastTicks;

    /// <summary>True the first time an id is seen by the flaky receiver (that attempt is answered 500).</summary>
    public bool FirstAttempt(string id) => failedOnce.TryAdd(id, true);

    public void Delivered(string id, TimeSpan latency)
    {
        Interlocked.Increment(ref deliveries);
        seen.AddOrUpdate(id, 1, (_, n) => n + 1);
        latencies.Add(latency.TotalMilliseconds);
        var now = DateTimeOffset.UtcNow.UtcTicks;
        long f; while (now < (f = Interlocked.Read(ref firstTicks)) && Interlocked.CompareExchange(ref firstTicks, now, f) != f) { }
        long l; while (now > (l = Interlocked.Read(ref lastTicks)) && Interlocked.CompareExchange(ref lastTicks, now, l) != l) { }
    }

    public object Snapshot()
    {
        var sorted = latencies.ToArray();
        Array.Sort(sorted);
        double At(double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        var span = lastTicks > firstTicks && firstTicks != long.MaxValue ? TimeSpan.FromTicks(lastTicks - firstTicks).TotalSeconds : 0;
        return new
        {
            unique = seen.Count, deliveries = Interlocked.Read(ref deliveries), duplicates = seen.Values.Sum(n => n - 1),
            p50Ms = At(0.50), p99Ms = At(0.99), spanSeconds = span,
        };
    }
}

internal interface IEventStore
{
    Task InitializeAsync();
    Task InsertAsync(string id, string body);
    Task<long?> ConsumeAsync();
    Task<long?> ConsumeAsync(string tenant);
    Task<long?[]> ConsumeBatchAsync(int count);
    Task<Counter> CounterAsync();
    Task SetLimitAsync(long limit);
}

/// <summary>
/// SQLite as a competent hand-written endpoint uses it: one writer connection behind an async lock, so requests queue
/// in memory rather than sleep in SQLite's busy handler (with a pool of writers, 64 connections spend their time in
/// <c>busy_timeout</c> back-off: p99 of hundreds of ms, and a yardstick that flatters whatever it is compared with).
/// Still one fsync'd transaction per request (WAL, <c>synchronous = full</c>): nothing is batched.
/// </summary>
internal sealed class SqliteEventStore(string file) : IEventStore
{
    private readonly string connectionString = new SqliteConnectionStringBuilder { DataSource = file, Pooling = false, DefaultTimeout = 30 }.ToString();
    private readonly SemaphoreSlim writer = new(1, 1);
    private SqliteConnection? connection;

    public async Task InitializeAsync()
    {
        connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "pragma journal_mode = wal; pragma busy_timeout = 30000; pragma synchronous = full; "
            + "create table if not exists events (id text primary key, body text not null); "
            + "create table if not exists counters (id integer primary key, used integer not null, lim integer not null); "
            + "insert into counters (id, used, lim) values (1, 0, 9223372036854775807) on conflict (id) do nothing; "
            + "create table if not exists tenant_counters (id text primary key, used integer not null, lim integer not null)";
        await cmd.ExecuteNonQueryAsync();
    }

    public Task<long?> ConsumeAsync(string tenant) => WithWriterAsync(async c =>
    {
        await using var tx = c.BeginTransaction();
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "insert into tenant_counters (id, used, lim) values ($id, 1, 9223372036854775807) "
            + "on conflict (id) do update set used = tenant_counters.used + 1 where tenant_counters.used < tenant_counters.lim returning used";
        cmd.Parameters.AddWithValue("$id", tenant);
        var used = await cmd.ExecuteScalarAsync() is long u ? u : (long?)null;
        await tx.CommitAsync();
        return used;
    });

    public Task<long?[]> ConsumeBatchAsync(int count) => WithWriterAsync(async c =>
    {
        await using var tx = c.BeginTransaction();
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "update counters set used = used + 1 where id = 1 and used < lim returning used";
        var answers = new long?[count];
        for (var i = 0; i < count; i++) answers[i] = await cmd.ExecuteScalarAsync() is long used ? used : null;
        await tx.CommitAsync();
        return answers;
    });

    public Task<long?> ConsumeAsync() => WithWriterAsync(async c =>
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "update counters set used = used + 1 where id = 1 and used < lim returning used";
        return await cmd.ExecuteScalarAsync() is long used ? used : (long?)null;
    });

    public Task<Counter> CounterAsync() => WithWriterAsync(async c =>
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "select used, lim from counters where id = 1";
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new Counter(reader.GetInt64(0), reader.GetInt64(1));
    });

    public Task SetLimitAsync(long limit) => WithWriterAsync(async c =>
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "update counters set lim = $limit where id = 1";
        cmd.Parameters.AddWithValue("$limit", limit);
        return await cmd.ExecuteNonQueryAsync();
    });

    public Task InsertAsync(string id, string body) => WithWriterAsync(async c =>
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "insert into events (id, body) values ($id, $body) on conflict (id) do nothing";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$body", body);
        return await cmd.ExecuteNonQueryAsync();
    });

    private async Task<T> WithWriterAsync<T>(Func<SqliteConnection, Task<T>> work)
    {
        await writer.WaitAsync();
        try
        {
            return await work(connection!);
        }
        finally
        {
            writer.Release();
        }
    }
}

internal sealed class PostgresEventStore(string connectionString) : IEventStore
{
    private readonly NpgsqlDataSource dataSource = NpgsqlDataSource.Create(connectionString);

    public async Task InitializeAsync()
    {
        await using var cmd = dataSource.CreateCommand("create table if not exists baseline_events (id text primary key, body text not null); "
            + "create table if not exists baseline_counters (id integer primary key, used bigint not null, lim bigint not null); "
            + "insert into baseline_counters (id, used, lim) values (1, 0, 9223372036854775807) on conflict (id) do nothing; "
            + "create table if not exists baseline_tenant_counters (id text primary key, used bigint not null, lim bigint not null)");
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<long?> ConsumeAsync(string tenant)
    {
        await using var cmd = dataSource.CreateCommand("insert into baseline_tenant_counters (id, used, lim) values ($1, 1, 9223372036854775807) "
            + "on conflict (id) do update set used = baseline_tenant_counters.used + 1 where baseline_tenant_counters.used < baseline_tenant_counters.lim returning used");
        cmd.Parameters.AddWithValue(tenant);
        return await cmd.ExecuteScalarAsync() is long used ? used : null;
    }

    public async Task<long?[]> ConsumeBatchAsync(int count)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using var cmd = new NpgsqlCommand("update baseline_counters set used = used + 1 where id = 1 and used < lim returning used", connection, tx);
        var answers = new long?[count];
        for (var i = 0; i < count; i++) answers[i] = await cmd.ExecuteScalarAsync() is long used ? used : null;
        await tx.CommitAsync();
        return answers;
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
