using System.Net.Http.Json;

namespace Backstop.Tests.Features.Quota;

/// <summary>
/// An idempotency key's row holds its answer in typed columns (status, used, limit, period), written once with the
/// count it answers; a replay is answered from those columns alone. These fail if the row lost its answer (a replay
/// rebuilt from the counter, the limit or the period as they are now would differ from the first answer).
/// </summary>
public abstract class IdempotencyAnswerTests(BackstopFactory app) : AppTest(app)
{
    private const string Counters = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = @metric";

    [Fact]
    public async Task A_replay_after_the_counter_the_limit_and_the_period_moved_on_answers_the_first_used_limit_and_period()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 10);
        var (tenant, client) = await App.TenantAsync();
        var first = await client.ConsumeAsync(metric, 3, key: "order-1");
        first.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await first.Content.ReadAsStringAsync();
        var answer = await first.JsonAsync();
        answer.GetProperty("used").GetInt64().ShouldBe(3);
        answer.GetProperty("remaining").GetInt64().ShouldBe(7);
        var periodStart = answer.GetProperty("periodStart").GetDateTimeOffset();
        var periodEnd = answer.GetProperty("periodEnd").GetDateTimeOffset();

        // The row is written once, with its answer in its columns (not a body).
        await using (var connection = await App.OpenAsync())
        {
            var row = await connection.QuerySingleAsync<StoredRow>(
                """
                select status, used, limit_value, period_start, period_end from usage_idempotency
                where organization_id = @org and metric = @metric and idempotency_key = 'api:order-1'
                """, new { org = tenant.OrganizationId, metric });
            row.ShouldBe(new StoredRow { Status = 200, Used = 3, LimitValue = 10, PeriodStart = periodStart, PeriodEnd = periodEnd });
        }

        // Everything the answer was made of moves on: the counter, the limit, the period.
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/{metric}/limit",
            new { limit = 50, reason = "test" }, Http.Json)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var replay = await client.ConsumeAsync(metric, 3, key: "order-1");
        replay.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await replay.Content.ReadAsStringAsync()).ShouldBe(body);

        App.Time.Advance(periodEnd - App.Time.GetUtcNow() + TimeSpan.FromDays(2));
        (await client.ConsumeAsync(metric, 5)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var later = await client.ConsumeAsync(metric, 3, key: "order-1");
        later.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await later.Content.ReadAsStringAsync()).ShouldBe(body);

        // Nothing of the replays was counted: 3 + 4 in the first period, 5 in the next.
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(12);
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(5);
    }

    [Fact]
    public async Task A_gauges_replay_and_a_batch_items_replay_answer_from_the_stored_columns()
    {
        var gauge = await App.DeclareMetricAsync("gauge", defaultLimit: 10);
        var counter = await App.DeclareMetricAsync("counter", defaultLimit: 100);
        var (tenant, client) = await App.TenantAsync();

        var seat = await client.ConsumeAsync(gauge, 2, key: "seat-1");
        seat.StatusCode.ShouldBe(HttpStatusCode.OK);
        var seatBody = await seat.Content.ReadAsStringAsync();
        var seatAnswer = await seat.JsonAsync();
        seatAnswer.GetProperty("kind").GetString().ShouldBe("gauge");
        seatAnswer.GetProperty("periodStart").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        (await client.ConsumeAsync(gauge, 5)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await (await client.ConsumeAsync(gauge, 2, key: "seat-1")).Content.ReadAsStringAsync()).ShouldBe(seatBody);

        var batch = await client.PostJsonAsync("/v1/usage/batch",
            new { items = new[] { new { metric = counter, amount = 6L, idempotencyKey = "b-1" }, new { metric = counter, amount = 1L, idempotencyKey = "b-2" } } });
        batch.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ConsumeAsync(counter, 20)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The batch's first item, retried alone, is answered what the batch answered it: used 6 of 100.
        var retried = await (await client.ConsumeAsync(counter, 6, key: "b-1")).JsonAsync();
        retried.GetProperty("used").GetInt64().ShouldBe(6);
        retried.GetProperty("limit").GetInt64().ShouldBe(100);
        retried.GetProperty("remaining").GetInt64().ShouldBe(94);
        (await client.UsageAsync(counter)).GetProperty("used").GetInt64().ShouldBe(27);
        (await client.UsageAsync(gauge)).GetProperty("used").GetInt64().ShouldBe(7);
    }

    private sealed record StoredRow
    {
        public long Status { get; init; }
        public long Used { get; init; }
        public long LimitValue { get; init; }
        public DateTimeOffset PeriodStart { get; init; }
        public DateTimeOffset PeriodEnd { get; init; }
    }
}

public sealed class IdempotencyAnswerTestsOnSqlite(SqliteApp<QuotaSetup> app) : IdempotencyAnswerTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class IdempotencyAnswerTestsOnPostgres(PostgresApp<QuotaSetup> app) : IdempotencyAnswerTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
