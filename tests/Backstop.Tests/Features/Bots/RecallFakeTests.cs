using System.Text;

namespace Backstop.Tests.Features.Bots;

/// <summary>The Recall fake behaves as PROVIDERS.md says Recall does, for each behaviour the tests rely on.</summary>
public sealed class RecallFakeTests : IDisposable
{
    private readonly RecallFake fake = new();
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(60) };

    public void Dispose()
    {
        http.Dispose();
        fake.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? body = null, string? key = null)
    {
        using var request = new HttpRequestMessage(method, fake.Url + path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<string> CreateAsync(string? joinAt = null, string? key = null)
    {
        var body = joinAt is null ? "{\"meeting_url\":\"https://zoom.us/j/1\"}" : $"{{\"meeting_url\":\"https://zoom.us/j/1\",\"join_at\":\"{joinAt}\"}}";
        var (status, json) = await SendAsync(HttpMethod.Post, "/api/v1/bot/", body, key);
        status.ShouldBe(HttpStatusCode.Created);
        return json.GetProperty("id").GetString()!;
    }

    private static string Code(JsonElement body) => body.GetProperty("code").GetString()!;

    [Fact]
    public async Task A_scheduled_bot_is_deleted_before_dispatch_and_answers_405_after()
    {
        var scheduled = await CreateAsync("2026-11-24T09:30:00.000Z");
        (await SendAsync(HttpMethod.Delete, $"/api/v1/bot/{scheduled}/")).Status.ShouldBe(HttpStatusCode.NoContent);
        (await SendAsync(HttpMethod.Get, $"/api/v1/bot/{scheduled}/")).Status.ShouldBe(HttpStatusCode.NotFound);

        var dispatched = await CreateAsync("2026-11-24T09:30:00.000Z");
        fake.Dispatch(dispatched);
        (await SendAsync(HttpMethod.Delete, $"/api/v1/bot/{dispatched}/")).Status.ShouldBe(HttpStatusCode.MethodNotAllowed);
        (await SendAsync(HttpMethod.Patch, $"/api/v1/bot/{dispatched}/", "{\"join_at\":\"2026-11-25T09:30:00.000Z\"}")).Status.ShouldBe(HttpStatusCode.MethodNotAllowed);

        var adHoc = await CreateAsync();
        (await SendAsync(HttpMethod.Delete, $"/api/v1/bot/{adHoc}/")).Status.ShouldBe(HttpStatusCode.MethodNotAllowed);
    }

    [Fact]
    public async Task A_scheduled_bot_not_dispatched_takes_a_new_join_at()
    {
        var bot = await CreateAsync("2026-11-24T09:30:00.000Z");
        var (status, body) = await SendAsync(HttpMethod.Patch, $"/api/v1/bot/{bot}/", "{\"join_at\":\"2026-11-25T10:00:00.000Z\"}");
        status.ShouldBe(HttpStatusCode.OK);
        body.GetProperty("join_at").GetString().ShouldBe("2026-11-25T10:00:00.000Z");
    }

    [Fact]
    public async Task Leave_call_before_joining_is_400_unstarted_in_the_call_200_and_after_the_end_400_completed()
    {
        var bot = await CreateAsync("2026-11-24T09:30:00.000Z");
        var (status, body) = await SendAsync(HttpMethod.Post, $"/api/v1/bot/{bot}/leave_call/");
        status.ShouldBe(HttpStatusCode.BadRequest);
        Code(body).ShouldBe("cannot_command_unstarted_bot");
        fake.Dispatch(bot);
        Code((await SendAsync(HttpMethod.Post, $"/api/v1/bot/{bot}/leave_call/")).Body).ShouldBe("cannot_command_unstarted_bot");

        fake.SetStatus(bot, "in_call_recording");
        (await SendAsync(HttpMethod.Post, $"/api/v1/bot/{bot}/leave_call/")).Status.ShouldBe(HttpStatusCode.OK);
        (status, body) = await SendAsync(HttpMethod.Post, $"/api/v1/bot/{bot}/leave_call/");
        status.ShouldBe(HttpStatusCode.BadRequest);
        Code(body).ShouldBe("cannot_command_completed_bot");
    }

    [Fact]
    public async Task Media_cut_short_held_or_on_a_remote_plain_http_host_is_served_as_named()
    {
        var bot = await CreateAsync();
        fake.SetStatus(bot, "done");

        fake.SetMedia(bot, RecallFake.MediaBehaviour.Truncated);
        using (var response = await http.GetAsync(fake.MediaUrl(bot), HttpCompletionOption.ResponseHeadersRead))
        {
            response.Content.Headers.ContentLength.ShouldBe(RecallFake.AudioBytes.Length);
            await using var body = await response.Content.ReadAsStreamAsync();
            var cut = await Should.ThrowAsync<HttpIOException>(() => body.CopyToAsync(Stream.Null));
            cut.HttpRequestError.ShouldBe(HttpRequestError.ResponseEnded);
        }

        fake.SetMedia(bot, RecallFake.MediaBehaviour.Held);
        var held = http.GetByteArrayAsync(fake.MediaUrl(bot));
        await fake.HeldStarted.WaitAsync(TimeSpan.FromSeconds(30));
        held.IsCompleted.ShouldBeFalse();
        fake.ReleaseHeld();
        (await held).ShouldBe(RecallFake.AudioBytes);

        fake.SetMedia(bot, RecallFake.MediaBehaviour.PlainHttpRemote);
        var remote = new Uri(fake.MediaUrl(bot));
        remote.Scheme.ShouldBe("http");
        remote.Host.ShouldBe(RecallFake.RemoteMediaHost);
        remote.IsLoopback.ShouldBeFalse();
    }

    [Fact]
    public async Task A_done_bot_whose_media_is_unavailable_shows_its_recording_without_links()
    {
        var bot = await CreateAsync();
        fake.SetStatus(bot, "call_ended");
        fake.SetStatus(bot, "done");
        fake.SetMedia(bot, RecallFake.MediaBehaviour.Unavailable);
        var (status, body) = await SendAsync(HttpMethod.Get, $"/api/v1/bot/{bot}/");
        status.ShouldBe(HttpStatusCode.OK);
        body.GetProperty("status_changes").EnumerateArray().Last().GetProperty("code").GetString().ShouldBe("done");
        var shortcuts = body.GetProperty("recordings")[0].GetProperty("media_shortcuts");
        shortcuts.GetProperty("audio_mixed").ValueKind.ShouldBe(JsonValueKind.Null);
        shortcuts.GetProperty("video_mixed").ValueKind.ShouldBe(JsonValueKind.Null);

        // Once the media is ready, the link is there.
        fake.SetMedia(bot, RecallFake.MediaBehaviour.Normal);
        (_, body) = await SendAsync(HttpMethod.Get, $"/api/v1/bot/{bot}/");
        body.GetProperty("recordings")[0].GetProperty("media_shortcuts").GetProperty("audio_mixed").GetProperty("data").GetProperty("download_url").GetString().ShouldNotBeNull();
    }

    [Fact]
    public async Task Get_answers_the_current_status_and_the_recording_only_once_done()
    {
        var bot = await CreateAsync();
        var (_, body) = await SendAsync(HttpMethod.Get, $"/api/v1/bot/{bot}/");
        body.GetProperty("status_changes").EnumerateArray().Last().GetProperty("code").GetString().ShouldBe("in_call_recording");
        body.GetProperty("recordings").GetArrayLength().ShouldBe(0);

        fake.SetStatus(bot, "call_ended");
        fake.SetStatus(bot, "done");
        (_, body) = await SendAsync(HttpMethod.Get, $"/api/v1/bot/{bot}/");
        body.GetProperty("status_changes").EnumerateArray().Last().GetProperty("code").GetString().ShouldBe("done");
        var url = body.GetProperty("recordings")[0].GetProperty("media_shortcuts").GetProperty("audio_mixed").GetProperty("data").GetProperty("download_url").GetString()!;
        (await http.GetByteArrayAsync(url)).ShouldBe(RecallFake.AudioBytes);

        (await SendAsync(HttpMethod.Get, "/api/v1/bot/bot_unknown/")).Status.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_idempotency_key_answers_the_first_bot_and_409_while_the_first_is_in_flight()
    {
        var key = "bot-start:" + Guid.NewGuid().ToString("N");
        var first = await CreateAsync(key: key);
        (await CreateAsync(key: key)).ShouldBe(first);
        (await CreateAsync(key: key + "-other")).ShouldNotBe(first);

        var concurrent = "bot-start:" + Guid.NewGuid().ToString("N");
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => SendAsync(HttpMethod.Post, "/api/v1/bot/", "{\"meeting_url\":\"https://zoom.us/j/2\"}", concurrent))));
        answers.Where(a => a.Status == HttpStatusCode.Created).Select(a => a.Body.GetProperty("id").GetString()).Distinct().Count().ShouldBe(1);
        answers.Count(a => a.Status == HttpStatusCode.Conflict).ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task No_capacity_is_507_with_Retry_After()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fake.Url + "/api/v1/bot/")
            { Content = new StringContent("{\"meeting_url\":\"https://zoom.us/j/recall-507\"}", Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        ((int)response.StatusCode).ShouldBe(507);
        response.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(17));
    }

    private string DoneBot(RecallFake.MediaBehaviour behaviour)
    {
        var id = "bot_media_" + Guid.NewGuid().ToString("N");
        fake.SetStatus(id, "done");
        fake.SetMedia(id, behaviour);
        return id;
    }

    [Fact]
    public async Task A_stalling_recording_sends_its_headers_and_first_kilobyte_then_nothing()
    {
        var url = fake.MediaUrl(DoneBot(RecallFake.MediaBehaviour.Stall));
        new Uri(url).Host.ShouldBe(fake.Host);
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentLength.ShouldBe(RecallFake.AudioBytes.Length);
        await fake.StallStarted;
        await using var body = await response.Content.ReadAsStreamAsync();
        var first = new byte[1024];
        await body.ReadExactlyAsync(first);
        first.ShouldBe(RecallFake.AudioBytes[..1024]);
        // The rest never comes: a real (short) wait is the only way to see a socket stay silent.
        using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Should.ThrowAsync<OperationCanceledException>(async () => await body.ReadExactlyAsync(new byte[16], wait.Token));
    }

    [Fact]
    public async Task A_large_recording_has_its_length_and_redirects_go_to_the_same_host_or_away()
    {
        using (var large = await http.GetAsync(fake.MediaUrl(DoneBot(RecallFake.MediaBehaviour.Large))))
        {
            large.Content.Headers.ContentLength.ShouldBe(RecallFake.LargeBytes);
            (await large.Content.ReadAsByteArrayAsync()).Length.ShouldBe(RecallFake.LargeBytes);
        }

        using var noRedirects = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        var same = DoneBot(RecallFake.MediaBehaviour.RedirectSameHost);
        using (var redirect = await noRedirects.GetAsync(fake.MediaUrl(same)))
        {
            redirect.StatusCode.ShouldBe(HttpStatusCode.Found);
            var target = new Uri(new Uri(fake.Url), redirect.Headers.Location!);
            target.Host.ShouldBe(fake.Host);
            (await http.GetByteArrayAsync(target)).ShouldBe(RecallFake.AudioBytes);
        }
        using (var away = await noRedirects.GetAsync(fake.MediaUrl(DoneBot(RecallFake.MediaBehaviour.RedirectAway))))
        {
            away.StatusCode.ShouldBe(HttpStatusCode.Found);
            away.Headers.Location!.Host.ShouldBe(fake.OtherHost);
        }

        var other = new Uri(fake.MediaUrl(DoneBot(RecallFake.MediaBehaviour.OtherHost)));
        other.Host.ShouldBe(fake.OtherHost);
        fake.OtherHost.ShouldNotBe(fake.Host);
        (await http.GetByteArrayAsync(other)).ShouldBe(RecallFake.AudioBytes);
    }
}
