using System.Text;

namespace Backstop.Tests.Support;

/// <summary>The local event consumer behaves as the tests rely on: records what it got, answers as scripted, hangs until released.</summary>
public sealed class EventReceiverTests
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { AllowAutoRedirect = false });

    private static Task<HttpResponseMessage> PostAsync(EventReceiver receiver, string path, string body, CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, receiver.Url(path)) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("webhook-id", "evt_1");
        return Http.SendAsync(request, ct);
    }

    [Fact]
    public async Task It_records_each_request_and_answers_200_by_default()
    {
        await using var receiver = await EventReceiver.StartAsync();
        var response = await PostAsync(receiver, "/a", """{"x":1}""");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var request = receiver.At("/a").ShouldHaveSingleItem();
        request.Method.ShouldBe("POST");
        request.Body.ShouldBe("""{"x":1}""");
        request.Headers["webhook-id"].ShouldBe("evt_1");
        request.ContentType.ShouldNotBeNull().ShouldStartWith("application/json");
        receiver.At("/b").ShouldBeEmpty();
    }

    [Fact]
    public async Task Scripted_answers_are_given_in_order_per_path_then_200()
    {
        await using var receiver = await EventReceiver.StartAsync();
        receiver.Answer("/a", 500, body: "boom");
        receiver.Answer("/a", 429, retryAfter: TimeSpan.FromSeconds(30));
        receiver.Answer("/a", 307, location: "http://elsewhere.test/");

        var first = await PostAsync(receiver, "/a", "{}");
        first.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        (await first.Content.ReadAsStringAsync()).ShouldBe("boom");
        (await PostAsync(receiver, "/other", "{}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var second = await PostAsync(receiver, "/a", "{}");
        second.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        second.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(30));
        var third = await PostAsync(receiver, "/a", "{}");
        third.StatusCode.ShouldBe(HttpStatusCode.TemporaryRedirect);
        third.Headers.Location.ShouldBe(new Uri("http://elsewhere.test/"));
        (await PostAsync(receiver, "/a", "{}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        receiver.At("/a").Count.ShouldBe(4);
    }

    [Fact]
    public async Task A_hung_answer_waits_until_released_and_WaitFor_sees_the_request_first()
    {
        await using var receiver = await EventReceiver.StartAsync();
        var release = receiver.Hang("/slow");
        var call = PostAsync(receiver, "/slow", "{}");
        await receiver.WaitForAsync("/slow");
        call.IsCompleted.ShouldBeFalse();
        release.SetResult();
        (await call).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_hung_answer_ends_when_the_caller_gives_up()
    {
        await using var receiver = await EventReceiver.StartAsync();
        receiver.Hang("/slow");
        using var cancel = new CancellationTokenSource();
        var call = PostAsync(receiver, "/slow", "{}", cancel.Token);
        await receiver.WaitForAsync("/slow");
        await cancel.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => call);
        // The next request is not held by the abandoned one.
        (await PostAsync(receiver, "/slow", "{}")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
