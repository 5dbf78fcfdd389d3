using System.Text;
using Backstop.Infrastructure.Security;

namespace Backstop.Tests.Features.Bots;

public abstract class RecordingPipelineTests(BackstopFactory app) : AppTest(app)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 11, 0, 0, TimeSpan.Zero);

    private sealed record Recorded(HttpClient Client, string OrganizationId, string MeetingId, string BotId);

    /// <summary>A meeting for a member with an email whose bot recorded and is done; the pipeline has not run yet.</summary>
    private async Task<Recorded> DoneMeetingAsync()
    {
        var tenant = await App.CreateTenantAsync();
        var user = "user_" + Guid.NewGuid().ToString("N")[..8];
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members",
            new { externalUserId = user, email = user + "@example.com", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        var client = App.Client(tenant);
        var meeting = await client.CreateMeetingAsync(startBot: true, externalUserId: user);
        var id = meeting.GetProperty("id").GetString()!;
        var botId = meeting.GetProperty("botId").GetString()!;
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "in_call_recording", T0));
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "call_ended", T0.AddMinutes(30)));
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "done", T0.AddMinutes(31)));
        App.Recall().SetStatus(botId, "done");
        return new Recorded(client, tenant.OrganizationId, id, botId);
    }

    /// <summary>Runs the outbox until the transcription request went out; answers the callback URL Deepgram received.</summary>
    private async Task<string> TranscriptionRequestedAsync(Recorded r)
    {
        await App.DispatchAsync(); // fetch_recording (+ leave nothing else behind)
        await App.DispatchAsync(); // request_transcription
        var request = App.Deepgram().Requests.Single(e => e.RequestMessage.Query!.TryGetValue("extra", out var extra) &&
                                                        App.CountAsync("select count(*) from transcriptions where meeting_id = @MeetingId and @extra like '%' || id", new { r.MeetingId, extra = extra.ToString() }).Result == 1);
        return request.RequestMessage.Query!["callback"].ToString();
    }

    private static string CallbackBody(string requestId, string? transcriptionId, bool results = true) => JsonSerializer.Serialize(results
        ? new
        {
            metadata = new { request_id = requestId, duration = 1834.5, extra = new Dictionary<string, string> { ["backstop_transcription"] = transcriptionId ?? "" } },
            results = (object)new
            {
                channels = new[]
                {
                    new
                    {
                        alternatives = new[]
                        {
                            new
                            {
                                transcript = "hello everyone let's start",
                                confidence = 0.97,
                                words = new[]
                                {
                                    new { word = "hello", start = 0.1, end = 0.5, confidence = 0.99, punctuated_word = "Hello", speaker = 0 },
                                    new { word = "everyone", start = 0.5, end = 1.0, confidence = 0.98, punctuated_word = "everyone,", speaker = 0 },
                                },
                            },
                        },
                    },
                },
            },
        }
        : new
        {
            // Deepgram's failure callback is not documented; what it sends has no results.
            metadata = new { request_id = requestId, duration = 0.0, extra = new Dictionary<string, string> { ["backstop_transcription"] = transcriptionId ?? "" } },
            results = (object)null!,
        });

    private static HttpRequestMessage Callback(string callbackUrl, string body)
    {
        var uri = new Uri(callbackUrl);
        return new HttpRequestMessage(HttpMethod.Post, uri.PathAndQuery) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    }

    private async Task<string> TranscriptionIdAsync(string meetingId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<string>("select id from transcriptions where meeting_id = @meetingId", new { meetingId });
    }

    [Fact]
    public async Task Done_stores_the_recording_and_requests_a_transcription_with_a_token_of_its_own()
    {
        var r = await DoneMeetingAsync();
        var callbackUrl = await TranscriptionRequestedAsync(r);

        // The recording is ours now: stored, sized, and served back byte for byte.
        var meeting = await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("transcribing");
        meeting.GetProperty("audio").GetProperty("size").GetInt64().ShouldBe(RecallFake.AudioBytes.Length);
        meeting.GetProperty("audio").GetProperty("contentType").GetString().ShouldBe("audio/mpeg");
        File.Exists(Path.Combine(App.SetupAs<BotsSetup>().FilesPath, "meetings", r.MeetingId, r.BotId + ".mp3")).ShouldBeTrue();
        var audio = await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/audio");
        audio.Content.Headers.ContentType!.MediaType.ShouldBe("audio/mpeg");
        audio.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        audio.Headers.GetValues("X-Content-Type-Options").Single().ShouldBe("nosniff");
        (await audio.Content.ReadAsByteArrayAsync()).ShouldBe(RecallFake.AudioBytes);
        App.Recall().Requests.Count(e => e.RequestMessage.Path == $"/api/v1/bot/{r.BotId}/" && e.RequestMessage.Method == "GET").ShouldBe(1);

        // What Deepgram received: Recall's download link, our key, a callback to PublicBaseUrl with a token.
        var request = App.Deepgram().Requests.Single(e => e.RequestMessage.Query!.TryGetValue("callback", out var c) && c.ToString() == callbackUrl).RequestMessage;
        request.Headers!["Authorization"].ToString().ShouldBe("Token " + DeepgramFake.ApiKey);
        JsonDocument.Parse(request.Body!).RootElement.GetProperty("url").GetString().ShouldBe($"{App.Recall().Url}/media/{r.BotId}.mp3?X-Amz-Signature=abc");
        callbackUrl.ShouldStartWith("https://backstop.example.com/webhooks/deepgram?token=");
        var token = Uri.UnescapeDataString(callbackUrl.Split("token=")[1]);
        token.Length.ShouldBeGreaterThanOrEqualTo(40);
        // Stored hashed only; the outbox payload that carried it is erased once sent.
        (await App.CountAsync("select count(*) from transcriptions where token_hash = @h", new { h = Secrets.Hash(token) })).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where payload like @t", new { t = "%" + token + "%" })).ShouldBe(0);
    }

    [Fact]
    public async Task The_callback_saves_one_transcript_moves_the_meeting_and_tells_the_member()
    {
        var r = await DoneMeetingAsync();
        var callbackUrl = await TranscriptionRequestedAsync(r);
        var transcriptionId = await TranscriptionIdAsync(r.MeetingId);
        var requestId = Guid.NewGuid().ToString();
        var body = CallbackBody(requestId, transcriptionId);

        var client = App.CreateClient();
        (await client.SendAsync(Callback(callbackUrl, body))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.SendAsync(Callback(callbackUrl, body))).StatusCode.ShouldBe(HttpStatusCode.OK);

        var meeting = await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("transcribed");
        meeting.GetProperty("transcriptStatus").GetString().ShouldBe("transcribed");
        var transcript = await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).JsonAsync();
        transcript.GetProperty("text").GetString().ShouldBe("hello everyone let's start");
        transcript.GetProperty("requestId").GetString().ShouldBe(requestId);
        transcript.GetProperty("durationSeconds").GetDouble().ShouldBe(1834.5);
        transcript.GetProperty("words").GetArrayLength().ShouldBe(2);
        transcript.GetProperty("words")[0].GetProperty("punctuatedWord").GetString().ShouldBe("Hello");
        (await App.CountAsync("select count(*) from transcripts where meeting_id = @MeetingId", new { r.MeetingId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'email' and reference = @MeetingId", new { r.MeetingId })).ShouldBe(1);

        // The same transcription reported again under another request id: still one transcript, one email.
        (await client.SendAsync(Callback(callbackUrl, CallbackBody(Guid.NewGuid().ToString(), transcriptionId)))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from transcripts where meeting_id = @MeetingId", new { r.MeetingId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'email' and reference = @MeetingId", new { r.MeetingId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_callback_without_its_token_is_refused_and_stores_nothing()
    {
        var r = await DoneMeetingAsync();
        await TranscriptionRequestedAsync(r);
        var transcriptionId = await TranscriptionIdAsync(r.MeetingId);
        var requestId = Guid.NewGuid().ToString();
        var client = App.CreateClient();
        foreach (var path in new[] { "/webhooks/deepgram", "/webhooks/deepgram?token=", "/webhooks/deepgram?token=" + Secrets.RandomToken(32) })
        {
            var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, path)
                { Content = new StringContent(CallbackBody(requestId, transcriptionId), Encoding.UTF8, "application/json") });
            await response.ShouldBeProblemAsync(401, "invalid_token");
        }
        (await App.CountAsync("select count(*) from webhook_events where provider = 'deepgram' and event_id = @requestId", new { requestId })).ShouldBe(0);
        (await App.CountAsync("select count(*) from transcripts where meeting_id = @MeetingId", new { r.MeetingId })).ShouldBe(0);
    }

    [Fact]
    public async Task A_failure_after_the_transcript_insert_leaves_no_transcript_and_the_meeting_transcribing()
    {
        var r = await DoneMeetingAsync();
        var callbackUrl = await TranscriptionRequestedAsync(r);
        var transcriptionId = await TranscriptionIdAsync(r.MeetingId);
        var requestId = Guid.NewGuid().ToString();
        await InjectTranscribedFailureAsync(r.MeetingId);

        (await App.CreateClient().SendAsync(Callback(callbackUrl, CallbackBody(requestId, transcriptionId)))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from transcripts where meeting_id = @MeetingId", new { r.MeetingId })).ShouldBe(0);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'email' and reference = @MeetingId", new { r.MeetingId })).ShouldBe(0);
        (await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("transcribing");
        await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).ShouldBeProblemAsync(404, "transcript_not_found");
        (await App.CountAsync("select count(*) from webhook_events where provider = 'deepgram' and event_id = @requestId and status = 'failed'", new { requestId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_callback_without_results_fails_the_transcription()
    {
        var r = await DoneMeetingAsync();
        var callbackUrl = await TranscriptionRequestedAsync(r);
        var transcriptionId = await TranscriptionIdAsync(r.MeetingId);
        (await App.CreateClient().SendAsync(Callback(callbackUrl, CallbackBody(Guid.NewGuid().ToString(), transcriptionId, results: false)))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var meeting = await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("transcription_failed");
        meeting.GetProperty("transcriptStatus").GetString().ShouldBe("failed");
    }

    private async Task InjectTranscribedFailureAsync(string meetingId)
    {
        await using var connection = await App.OpenAsync();
        if (App.DatabaseKind == "sqlite")
        {
            await connection.ExecuteAsync(
                $"""
                create trigger fail_transcribed_{meetingId.Replace("-", "")} before update of status on meetings
                when new.status = 'transcribed' and new.id = '{meetingId}'
                begin select raise(abort, 'injected failure'); end;
                """);
        }
        else
        {
            await connection.ExecuteAsync(
                $$"""
                create or replace function fail_transcribed() returns trigger language plpgsql as $$
                begin
                    if new.status = 'transcribed' and new.id = '{{meetingId}}' then raise exception 'injected failure'; end if;
                    return new;
                end $$;
                drop trigger if exists fail_transcribed on meetings;
                create trigger fail_transcribed before update on meetings for each row execute function fail_transcribed();
                """);
        }
    }
}

public sealed class RecordingPipelineTestsOnSqlite(SqliteApp<BotsSetup> app) : RecordingPipelineTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class RecordingPipelineTestsOnPostgres(PostgresApp<BotsSetup> app) : RecordingPipelineTests(app), IClassFixture<PostgresApp<BotsSetup>>;
