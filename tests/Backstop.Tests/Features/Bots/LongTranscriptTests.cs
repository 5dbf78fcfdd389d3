namespace Backstop.Tests.Features.Bots;

/// <summary>Deepgram callbacks of a long meeting (tens of MB) and the callback token's binding to its transcription.</summary>
public abstract class LongTranscriptTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_four_hour_callback_of_about_20_MB_is_stored_and_the_meeting_transcribed()
    {
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        var requestId = Guid.NewGuid().ToString();
        var callback = DeepgramFake.Callback(requestId, transcriptionId, TimeSpan.FromHours(4), wordsPerMinute: 240);
        callback.Body.Length.ShouldBeGreaterThan(18 * 1024 * 1024);

        var before = PeakRss.Reset();
        var statuses = await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), callbackUrl, callback.Body);
        var peak = PeakRss.Read();
        TestContext.Current.SendDiagnosticMessage(
            $"{App.DatabaseKind}: callback {callback.Body.Length / 1024.0 / 1024:F1} MB, {callback.Words} words; test process RSS before {before / 1024} MB, peak while receiving {peak / 1024} MB");

        statuses.ShouldBe([200]);
        (await r.StatusAsync()).ShouldBe("transcribed");
        var transcript = await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).JsonAsync();
        transcript.GetProperty("requestId").GetString().ShouldBe(requestId);
        transcript.GetProperty("durationSeconds").GetDouble().ShouldBe(4 * 3600.0);
        var words = transcript.GetProperty("words");
        words.GetArrayLength().ShouldBe(callback.Words);
        words[0].GetProperty("punctuatedWord").GetString().ShouldBe(callback.FirstPunctuatedWord);
        words[words.GetArrayLength() - 1].GetProperty("word").GetString().ShouldBe(callback.LastWord);
        words.EnumerateArray().Select(w => w.GetProperty("speaker").GetInt32()).Distinct().Count().ShouldBe(callback.Speakers);
        // The event row keeps the reduced callback (words once), not the paragraphs and utterances that repeat them.
        await using var connection = await App.OpenAsync();
        var stored = await connection.QuerySingleAsync<string>("select payload from webhook_events where provider = 'deepgram' and event_id = @requestId", new { requestId });
        stored.Length.ShouldBeLessThan(callback.Body.Length / 2);
        stored.ShouldNotContain("utterances");
    }

    [Fact]
    public async Task A_callback_over_the_deepgram_limit_is_refused_413_and_stores_nothing()
    {
        // The limit is per provider: the API's 1 MiB does not apply to Deepgram's callbacks, its own 64 MiB does.
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        var requestId = Guid.NewGuid().ToString();
        var padding = new string('x', 65 * 1024 * 1024);
        var body = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { metadata = new { request_id = requestId }, padding }));
        var response = await App.CreateClient().PostAsync(new Uri(callbackUrl).PathAndQuery, new ByteArrayContent(body));
        await response.ShouldBeProblemAsync(413, "payload_too_large");
        (await App.CountAsync("select count(*) from webhook_events where event_id = @requestId", new { requestId })).ShouldBe(0);
        (await r.StatusAsync()).ShouldBe("transcribing");
    }

    [Fact]
    public async Task A_token_used_for_another_transcription_is_refused()
    {
        var a = await App.DoneMeetingAsync();
        var (callbackA, _) = await App.TranscriptionRequestedAsync(a);
        var b = await App.DoneMeetingAsync();
        var (_, transcriptionB) = await App.TranscriptionRequestedAsync(b);

        var requestId = Guid.NewGuid().ToString();
        var response = await App.CreateClient().PostAsync(new Uri(callbackA).PathAndQuery, new ByteArrayContent(PipelineKit.SmallCallback(requestId, transcriptionB)));
        await response.ShouldBeProblemAsync(401, "invalid_token");
        (await b.StatusAsync()).ShouldBe("transcribing");
        (await a.StatusAsync()).ShouldBe("transcribing");
        (await App.CountAsync("select count(*) from webhook_events where event_id = @requestId", new { requestId })).ShouldBe(0);
    }

    [Fact]
    public async Task A_reused_token_of_a_completed_transcription_is_answered_200_and_changes_nothing()
    {
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        var client = App.CreateClient();
        (await DeepgramFake.DeliverCallbackAsync(client, callbackUrl, PipelineKit.SmallCallback(Guid.NewGuid().ToString(), transcriptionId))).ShouldBe([200]);
        (await r.StatusAsync()).ShouldBe("transcribed");

        // Reused, with another request id and a failure body: acknowledged, nothing changes.
        var failure = JsonSerializer.SerializeToUtf8Bytes(new { metadata = new { request_id = Guid.NewGuid().ToString() }, err_code = "x" });
        (await DeepgramFake.DeliverCallbackAsync(client, callbackUrl, failure)).ShouldBe([200]);
        (await r.StatusAsync()).ShouldBe("transcribed");
        (await App.CountAsync("select count(*) from transcriptions where id = @transcriptionId and status = 'completed'", new { transcriptionId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_token_expires_after_Deepgram_CallbackTokenHours()
    {
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update transcriptions set token_expires_at = @past where id = @transcriptionId",
                new { past = App.Time.GetUtcNow().AddMinutes(-1), transcriptionId });
        var response = await App.CreateClient().PostAsync(new Uri(callbackUrl).PathAndQuery, new ByteArrayContent(PipelineKit.SmallCallback(Guid.NewGuid().ToString(), transcriptionId)));
        await response.ShouldBeProblemAsync(401, "invalid_token");
        (await r.StatusAsync()).ShouldBe("transcribing");
    }
}

/// <summary>The peak resident set of this process (Linux: VmHWM, reset by writing 5 to clear_refs), in KiB; 0 elsewhere.</summary>
internal static class PeakRss
{
    public static long Reset()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return Field("VmRSS:");
    }

    public static long Read() => Field("VmHWM:");

    private static long Field(string name)
    {
        if (!File.Exists("/proc/self/status")) return 0;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[name.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class LongTranscriptTestsOnSqlite(SqliteApp<BotsSetup> app) : LongTranscriptTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class LongTranscriptTestsOnPostgres(PostgresApp<BotsSetup> app) : LongTranscriptTests(app), IClassFixture<PostgresApp<BotsSetup>>;
