namespace Backstop.Tests.Features.Bots;

/// <summary>The Deepgram fake behaves as PROVIDERS.md says Deepgram does, for what the tests rely on.</summary>
public sealed class DeepgramFakeTests
{
    [Fact]
    public async Task Listen_answers_a_fresh_request_id()
    {
        using var fake = new DeepgramFake();
        using var http = new HttpClient();
        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var response = await http.PostAsync(fake.Url + "/v1/listen?callback=x", new StringContent("{\"url\":\"https://a/b.mp3\"}"));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            ids.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("request_id").GetString()!);
        }
        ids.Distinct().Count().ShouldBe(2);
    }

    [Fact]
    public void A_four_hour_callback_is_about_20_MB_with_every_word_timed_and_attributed_to_a_speaker()
    {
        var callback = DeepgramFake.Callback("req_1", "tr_1", TimeSpan.FromHours(4));
        (callback.Body.Length / 1024.0 / 1024).ShouldBeInRange(12, 25);
        // Fast talkers (240 words a minute) make the ~20 MB the inbox test posts.
        (DeepgramFake.Callback("req_2", "tr_2", TimeSpan.FromHours(4), wordsPerMinute: 240).Body.Length / 1024.0 / 1024).ShouldBeInRange(18, 25);
        callback.Words.ShouldBe(4 * 60 * 180);
        var root = JsonDocument.Parse(callback.Body).RootElement;
        root.GetProperty("metadata").GetProperty("request_id").GetString().ShouldBe("req_1");
        root.GetProperty("metadata").GetProperty("extra").GetProperty("backstop_transcription").GetString().ShouldBe("tr_1");
        var words = root.GetProperty("results").GetProperty("channels")[0].GetProperty("alternatives")[0].GetProperty("words");
        words.GetArrayLength().ShouldBe(callback.Words);
        foreach (var name in new[] { "word", "start", "end", "confidence", "speaker", "speaker_confidence", "punctuated_word" })
            words[100].TryGetProperty(name, out _).ShouldBeTrue(name);
        words.EnumerateArray().Select(w => w.GetProperty("speaker").GetInt32()).Distinct().Count().ShouldBe(callback.Speakers);
        callback.Speakers.ShouldBe(4);
        root.GetProperty("results").GetProperty("utterances").GetArrayLength().ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task A_callback_is_delivered_again_on_non_2xx_ten_times_in_all_and_stops_at_the_first_2xx()
    {
        var answers = new Queue<int>([413, 500, 200, 200]);
        using var refusing = new HttpClient(new Answering(() => answers.Dequeue())) { BaseAddress = new Uri("http://receiver") };
        (await DeepgramFake.DeliverCallbackAsync(refusing, "https://receiver/webhooks/deepgram?token=t", [1, 2, 3])).ShouldBe([413, 500, 200]);

        using var tooSmall = new HttpClient(new Answering(() => 413)) { BaseAddress = new Uri("http://receiver") };
        (await DeepgramFake.DeliverCallbackAsync(tooSmall, "https://receiver/webhooks/deepgram?token=t", [1])).Count.ShouldBe(DeepgramFake.CallbackAttempts);
    }

    private sealed class Answering(Func<int> status) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Method.ShouldBe(HttpMethod.Post);
            request.Content!.Headers.ContentType!.MediaType.ShouldBe("application/json");
            return Task.FromResult(new HttpResponseMessage((HttpStatusCode)status()));
        }
    }
}
