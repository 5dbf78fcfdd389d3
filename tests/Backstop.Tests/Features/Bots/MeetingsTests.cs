namespace Backstop.Tests.Features.Bots;

public abstract class MeetingsTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_meeting_is_created_read_listed_and_soft_deleted()
    {
        var client = await App.TenantClientAsync();
        var url = "https://Meet.Google.com/abc-defg-hij?authuser=0&x=" + Guid.NewGuid().ToString("N");
        var created = await client.CreateMeetingAsync(url, externalUserId: "user_42");
        var id = created.GetProperty("id").GetString()!;
        created.GetProperty("title").GetString().ShouldBe("Weekly sync");
        created.GetProperty("meetingUrl").GetString().ShouldBe(url);
        created.GetProperty("status").GetString().ShouldBe("scheduled");
        created.GetProperty("externalUserId").GetString().ShouldBe("user_42");
        created.GetProperty("botId").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        created.GetProperty("statusHistory").GetArrayLength().ShouldBe(0);
        created.GetProperty("audio").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        var got = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        got.GetProperty("id").GetString().ShouldBe(id);

        var listed = await (await client.GetAsync("/v1/meetings?status=scheduled")).JsonAsync();
        listed.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ShouldContain(id);
        (await (await client.GetAsync("/v1/meetings?status=recording")).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);

        (await client.DeleteAsync($"/v1/meetings/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await client.GetAsync($"/v1/meetings/{id}")).ShouldBeProblemAsync(404, "meeting_not_found");
        (await (await client.GetAsync("/v1/meetings")).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);
        await (await client.DeleteAsync($"/v1/meetings/{id}")).ShouldBeProblemAsync(404, "meeting_not_found");
        // Soft: the row is still there.
        (await App.CountAsync("select count(*) from meetings where id = @id and deleted_at is not null", new { id })).ShouldBe(1);
    }

    [Fact]
    public async Task Lists_are_paged_newest_first()
    {
        var client = await App.TenantClientAsync();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await client.CreateMeetingAsync()).GetProperty("id").GetString()!);
            App.Time.Advance(TimeSpan.FromSeconds(1));
        }
        var first = await (await client.GetAsync("/v1/meetings?limit=2")).JsonAsync();
        first.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ShouldBe([ids[2], ids[1]]);
        var cursor = first.GetProperty("nextCursor").GetString()!;
        var second = await (await client.GetAsync($"/v1/meetings?limit=2&cursor={cursor}")).JsonAsync();
        second.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ShouldBe([ids[0]]);
        second.GetProperty("nextCursor").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        await (await client.GetAsync("/v1/meetings?status=sleeping")).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task Another_tenants_meeting_is_not_found()
    {
        var owner = await App.TenantClientAsync();
        var other = await App.TenantClientAsync();
        var id = (await owner.CreateMeetingAsync()).GetProperty("id").GetString()!;

        await (await other.GetAsync($"/v1/meetings/{id}")).ShouldBeProblemAsync(404, "meeting_not_found");
        await (await other.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(404, "meeting_not_found");
        await (await other.DeleteAsync($"/v1/meetings/{id}/bot")).ShouldBeProblemAsync(404, "meeting_not_found");
        await (await other.DeleteAsync($"/v1/meetings/{id}")).ShouldBeProblemAsync(404, "meeting_not_found");
        (await (await other.GetAsync("/v1/meetings")).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);
        App.Recall().CreateCalls(id).Count.ShouldBe(0);
        (await (await owner.GetAsync($"/v1/meetings/{id}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("scheduled");
    }

    [Fact]
    public async Task Bad_input_is_a_problem_and_stores_nothing()
    {
        var client = await App.TenantClientAsync();
        var marker = Guid.NewGuid().ToString("N");
        await (await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = "zoom.us/j/" + marker })).ShouldBeProblemAsync(400, "invalid_meeting_url");
        await (await client.PostJsonAsync("/v1/meetings", new { title = "", meetingUrl = BotsKit.NewZoomUrl(marker) })).ShouldBeProblemAsync(400, "validation_failed");
        (await App.CountAsync("select count(*) from meetings where meeting_url like @m", new { m = "%" + marker + "%" })).ShouldBe(0);

        var reader = await App.TenantClientAsync("read");
        (await reader.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = BotsKit.NewZoomUrl() })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }
}

public sealed class MeetingsTestsOnSqlite(SqliteApp<BotsSetup> app) : MeetingsTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class MeetingsTestsOnPostgres(PostgresApp<BotsSetup> app) : MeetingsTests(app), IClassFixture<PostgresApp<BotsSetup>>;
