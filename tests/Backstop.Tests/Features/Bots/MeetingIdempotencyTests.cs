using System.Net.Http.Json;
using Backstop.Tests.Features.Quota;

namespace Backstop.Tests.Features.Bots;

/// <summary><c>Idempotency-Key</c> on <c>POST /v1/meetings</c>: one key, one meeting, one <c>meetings_per_month</c> consumption.</summary>
public abstract class MeetingIdempotencyTests(BackstopFactory app) : AppTest(app)
{
    private const string Used = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = 'meetings_per_month'";

    private static HttpRequestMessage Create(string key, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/meetings") { Content = JsonContent.Create(body) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return request;
    }

    [Fact]
    public async Task Twenty_concurrent_creations_with_one_key_make_one_meeting_and_count_one()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 50 });
        var key = "create-" + Guid.NewGuid().ToString("N");
        var body = new { title = "Board meeting", meetingUrl = BotsKit.NewZoomUrl() };

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => client.SendAsync(Create(key, body)))));

        answers.Count(a => a.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(19);
        var ids = new HashSet<string>();
        foreach (var answer in answers) ids.Add((await answer.JsonAsync()).GetProperty("id").GetString()!);
        ids.Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from meetings where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from audit_log where action = 'meeting.create' and organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_repetition_answers_200_with_the_first_answer_and_another_body_is_refused_422()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 50 });
        var key = "create-" + Guid.NewGuid().ToString("N");
        var url = BotsKit.NewZoomUrl();

        var first = await client.SendAsync(Create(key, new { title = "Weekly sync", meetingUrl = url, startBot = true }));
        first.StatusCode.ShouldBe(HttpStatusCode.Created);
        var firstBody = await first.Content.ReadAsStringAsync();
        var id = (await first.JsonAsync()).GetProperty("id").GetString()!;

        // The meeting moves on (its bot joins); the repetition still answers what the first request answered.
        var botId = (await first.JsonAsync()).GetProperty("botId").GetString()!;
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "in_call_recording", App.Time.GetUtcNow()));
        // The same fields, written differently (order, spacing): the same request.
        var again = await client.SendAsync(Create(key, new { startBot = true, meetingUrl = url, title = " Weekly sync " }));
        again.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await again.Content.ReadAsStringAsync()).ShouldBe(firstBody);
        App.Recall().CreateCalls(id).Count.ShouldBe(1);

        await (await client.SendAsync(Create(key, new { title = "Another meeting", meetingUrl = url, startBot = true })))
            .ShouldBeProblemAsync(422, "idempotency_key_reused");
        await (await client.SendAsync(Create(key, new { title = "Weekly sync", meetingUrl = url }))).ShouldBeProblemAsync(422, "idempotency_key_reused");
        (await App.CountAsync("select count(*) from meetings where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(1);

        await (await client.SendAsync(Create(new string('k', 201), new { title = "x", meetingUrl = url }))).ShouldBeProblemAsync(400, "invalid_idempotency_key");
    }

    [Fact]
    public async Task Keys_are_per_organization_and_kept_24_hours()
    {
        var (a, clientA) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 50 });
        var (b, clientB) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 50 });
        var key = "create-" + Guid.NewGuid().ToString("N");
        var body = new { title = "Weekly sync", meetingUrl = BotsKit.NewZoomUrl() };

        var inA = await (await clientA.SendAsync(Create(key, body))).JsonAsync();
        var inB = await clientB.SendAsync(Create(key, body));
        inB.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await inB.JsonAsync()).GetProperty("id").GetString().ShouldNotBe(inA.GetProperty("id").GetString());

        App.Time.Advance(TimeSpan.FromHours(23));
        (await clientA.SendAsync(Create(key, body))).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromHours(1));
        // Expired: the key is free again, a new meeting is created and counted.
        var later = await clientA.SendAsync(Create(key, new { title = "Next week", meetingUrl = BotsKit.NewZoomUrl() }));
        later.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await later.JsonAsync()).GetProperty("id").GetString().ShouldNotBe(inA.GetProperty("id").GetString());
        (await App.CountAsync("select count(*) from meetings where organization_id = @org", new { org = a.OrganizationId })).ShouldBe(2);
        (await App.CountAsync("select count(*) from meetings where organization_id = @org", new { org = b.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_start_the_provider_refuses_gives_the_key_back()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 50 });
        var key = "create-" + Guid.NewGuid().ToString("N");
        var body = new { title = "Weekly sync", meetingUrl = BotsKit.NewZoomUrl("recall-500"), startBot = true };
        await (await client.SendAsync(Create(key, body))).ShouldBeProblemAsync(502, "bot_provider_error");
        (await App.CountAsync("select count(*) from meeting_idempotency_keys where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(0);
        // The retry with the same key is tried again (and refused again by the provider), not answered from a key.
        await (await client.SendAsync(Create(key, body))).ShouldBeProblemAsync(502, "bot_provider_error");
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(0);
    }
}

public sealed class MeetingIdempotencyTestsOnSqlite(SqliteApp<BotsSetup> app) : MeetingIdempotencyTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class MeetingIdempotencyTestsOnPostgres(PostgresApp<BotsSetup> app) : MeetingIdempotencyTests(app), IClassFixture<PostgresApp<BotsSetup>>;
