using Backstop.Infrastructure.Providers.Deepgram;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Features.Bots;

/// <summary><c>GET /v1/admin/meetings?stuck=true</c>: every organization's stuck meetings, each with why, by the repair sweep's definitions.</summary>
public abstract class StuckMeetingsTests(BackstopFactory app) : AppTest(app)
{
    private async Task<string> MeetingAsync(string organizationId, string status, TimeSpan quietFor, string? audioKey = null, bool deleted = false)
    {
        var id = Guid.CreateVersion7().ToString();
        var now = App.Time.GetUtcNow();
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(
            """
            insert into meetings (id, organization_id, title, meeting_url, normalized_url, status, bot_id, audio_key, created_at, updated_at, deleted_at)
            values (@id, @organizationId, 'Standup', 'https://meet.example.com/' || @id, 'meet.example.com/' || @id, @status, @botId, @audioKey, @updatedAt, @updatedAt, @deletedAt)
            """,
            new { id, organizationId, status, botId = "bot_" + Guid.NewGuid().ToString("N"), audioKey, updatedAt = now - quietFor, deletedAt = deleted ? now : (DateTimeOffset?)null });
        return id;
    }

    [Fact]
    public async Task Stuck_meetings_are_listed_with_why_and_the_others_are_not()
    {
        var organization = await App.CreateOrganizationAsync();
        var org = organization.Id;
        var transcribingTimeout = TimeSpan.FromMinutes(App.Service<IOptions<DeepgramOptions>>().Value.CallbackTimeoutMinutes);
        var quietActive = await MeetingAsync(org, "in_call", TimeSpan.FromMinutes(61));
        var liveActive = await MeetingAsync(org, "recording", TimeSpan.FromMinutes(50));
        var longProcessing = await MeetingAsync(org, "processing", TimeSpan.FromMinutes(61));
        var noAudio = await MeetingAsync(org, "done", TimeSpan.FromMinutes(61));
        var withAudio = await MeetingAsync(org, "done", TimeSpan.FromMinutes(61), audioKey: "audio/x.mp3");
        var longTranscribing = await MeetingAsync(org, "transcribing", transcribingTimeout + TimeSpan.FromMinutes(1));
        var freshTranscribing = await MeetingAsync(org, "transcribing", transcribingTimeout - TimeSpan.FromMinutes(1));
        await MeetingAsync(org, "in_call", TimeSpan.FromHours(3), deleted: true);
        var admin = App.AdminClient();

        var stuck = await (await admin.GetAsync($"/v1/admin/meetings?stuck=true&organizationId={org}")).JsonAsync();
        var reasons = stuck.GetProperty("items").EnumerateArray().ToDictionary(i => i.GetProperty("id").GetString()!, i => i.GetProperty("stuckReason").GetString());
        reasons.ShouldBe(new Dictionary<string, string?>
        {
            [quietActive] = "active_without_update",
            [longProcessing] = "processing_too_long",
            [noAudio] = "recording_missing",
            [longTranscribing] = "transcribing_too_long",
        }, ignoreOrder: true);

        var all = await (await admin.GetAsync($"/v1/admin/meetings?organizationId={org}")).JsonAsync();
        var items = all.GetProperty("items").EnumerateArray().ToList();
        items.Count.ShouldBe(7); // the deleted one is not listed
        foreach (var id in new[] { liveActive, withAudio, freshTranscribing })
            items.Single(i => i.GetProperty("id").GetString() == id).GetProperty("stuckReason").GetString().ShouldBeNull();

        var page = await (await admin.GetAsync($"/v1/admin/meetings?stuck=true&organizationId={org}&limit=3")).JsonAsync();
        page.GetProperty("items").GetArrayLength().ShouldBe(3);
        var next = await (await admin.GetAsync($"/v1/admin/meetings?stuck=true&organizationId={org}&limit=3&cursor={page.GetProperty("nextCursor").GetString()}")).JsonAsync();
        next.GetProperty("items").GetArrayLength().ShouldBe(1);
        next.GetProperty("nextCursor").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        // An hour later the live one has gone quiet too.
        App.Time.Advance(TimeSpan.FromMinutes(11));
        var later = await (await admin.GetAsync($"/v1/admin/meetings?stuck=true&status=recording&organizationId={org}")).JsonAsync();
        later.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe([liveActive]);
    }

    [Fact]
    public async Task The_operator_list_refuses_bad_filters_and_tenant_keys()
    {
        var admin = App.AdminClient();
        await (await admin.GetAsync("/v1/admin/meetings?status=weird")).ShouldBeProblemAsync(400, "validation_failed");
        var tenant = await App.CreateTenantAsync("admin");
        (await App.Client(tenant).GetAsync("/v1/admin/meetings?stuck=true")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        await (await App.CreateClient().GetAsync("/v1/admin/meetings")).ShouldBeProblemAsync(401, "unauthorized");
    }
}

public sealed class StuckMeetingsTestsOnSqlite(SqliteApp<DefaultSetup> app) : StuckMeetingsTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class StuckMeetingsTestsOnPostgres(PostgresApp<DefaultSetup> app) : StuckMeetingsTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
