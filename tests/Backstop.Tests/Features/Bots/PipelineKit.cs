namespace Backstop.Tests.Features.Bots;

/// <summary>Meetings brought to a point of the recording pipeline, for the tests of the later steps.</summary>
internal static class PipelineKit
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 23, 11, 0, 0, TimeSpan.Zero);

    public sealed record Recorded(HttpClient Client, string OrganizationId, string MeetingId, string BotId);

    /// <summary>A meeting for a member with an email whose bot recorded and is done; the pipeline has not run yet.</summary>
    public static async Task<Recorded> DoneMeetingAsync(this BackstopFactory app)
    {
        var tenant = await app.CreateTenantAsync();
        var user = "user_" + Guid.NewGuid().ToString("N")[..8];
        (await app.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members",
            new { externalUserId = user, email = user + "@example.com", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        var client = app.Client(tenant);
        var meeting = await client.CreateMeetingAsync(startBot: true, externalUserId: user);
        var id = meeting.GetProperty("id").GetString()!;
        var botId = meeting.GetProperty("botId").GetString()!;
        await app.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "in_call_recording", T0));
        await app.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "call_ended", T0.AddMinutes(30)));
        await app.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "done", T0.AddMinutes(31)));
        app.Recall().SetStatus(botId, "done");
        return new Recorded(client, tenant.OrganizationId, id, botId);
    }

    /// <summary>Runs the outbox until the transcription request went out; answers the callback URL Deepgram received and the transcription's id.</summary>
    public static async Task<(string CallbackUrl, string TranscriptionId)> TranscriptionRequestedAsync(this BackstopFactory app, Recorded r)
    {
        await app.DispatchAsync(); // fetch_recording
        await app.DispatchAsync(); // request_transcription
        await using var connection = await app.OpenAsync();
        var transcriptionId = await connection.QuerySingleAsync<string>("select id from transcriptions where meeting_id = @MeetingId", new { r.MeetingId });
        var request = app.Deepgram().Requests.Single(e => e.RequestMessage.Query!.TryGetValue("extra", out var extra) && extra.ToString().EndsWith(transcriptionId, StringComparison.Ordinal));
        return (request.RequestMessage.Query!["callback"].ToString(), transcriptionId);
    }

    public static async Task<string> StatusAsync(this Recorded r) =>
        (await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}")).JsonAsync()).GetProperty("status").GetString()!;

    public static byte[] SmallCallback(string requestId, string transcriptionId) =>
        DeepgramFake.Callback(requestId, transcriptionId, TimeSpan.FromSeconds(20)).Body;

    public static JsonElement Parse(byte[] body) => JsonDocument.Parse(body).RootElement.Clone();
}
