using System.Text;
using Backstop.Infrastructure.Providers.Twilio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Providers;

/// <summary>
/// The app's own Twilio registration (SDK, <see cref="TwilioBaseUrlHandler"/>, options) against the WireMock fake:
/// what the fake records is the SDK's real request, and what the fake answers is what the client classifies.
/// </summary>
public sealed class TwilioClientTests : IAsyncLifetime
{
    private TwilioTestServer twilio = null!;

    public async ValueTask InitializeAsync() => twilio = await TwilioTestServer.StartAsync();

    public ValueTask DisposeAsync() => twilio.DisposeAsync();

    private ServiceProvider Client(string authToken = TwilioTestServer.AuthToken)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twilio:AccountSid"] = TwilioTestServer.AccountSid,
            ["Twilio:AuthToken"] = authToken,
            ["Twilio:From"] = TwilioTestServer.From,
            ["Twilio:BaseUrl"] = twilio.BaseUrl,
            ["Twilio:PublicBaseUrl"] = "https://backstop.example.com",
        }).Build();
        return new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton(TimeProvider.System)
            .AddLogging()
            .AddTwilio()
            .BuildServiceProvider();
    }

    private static string NewNumber() => "+1555" + Random.Shared.Next(1_000_000, 9_999_999);

    [Fact]
    public async Task The_fake_receives_the_sdks_real_request_path_basic_auth_and_form_fields()
    {
        await using var services = Client();
        var to = NewNumber();
        const string body = "Code 123456 & more: ünïcode = +fine";

        var result = await services.GetRequiredService<TwilioClient>().SendAsync(to, body, CancellationToken.None);

        result.Accepted.ShouldBeTrue(result.Error);
        result.HttpStatus.ShouldBe(201);
        var request = twilio.Requests.ShouldHaveSingleItem();
        result.Sid.ShouldNotBeNull().ShouldStartWith("SM");
        request.Sid.ShouldBe(result.Sid);
        request.Account.ShouldBe(TwilioTestServer.AccountSid);
        request.Authorization.ShouldBe("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TwilioTestServer.AccountSid}:{TwilioTestServer.AuthToken}")));
        request.Form["To"].ShouldBe(to);
        request.Form["From"].ShouldBe(TwilioTestServer.From);
        request.Form["Body"].ShouldBe(body);
        request.Form["StatusCallback"].ShouldBe("https://backstop.example.com/webhooks/twilio/status");

        // The raw exchange as WireMock logged it: the handler rewrote only scheme, host and port of the SDK's URL.
        var logged = twilio.Server.LogEntries.ShouldHaveSingleItem().RequestMessage;
        logged.Method.ShouldBe("POST");
        logged.Path.ShouldBe($"/2010-04-01/Accounts/{TwilioTestServer.AccountSid}/Messages.json");
        logged.Headers.ShouldNotBeNull()["Content-Type"].ShouldHaveSingleItem().ShouldStartWith("application/x-www-form-urlencoded");
    }

    [Fact]
    public async Task A_queued_answer_goes_to_its_recipient_once_with_its_status_code_and_retry_after()
    {
        await using var services = Client();
        var client = services.GetRequiredService<TwilioClient>();
        var limited = NewNumber();
        var other = NewNumber();
        twilio.Enqueue(limited, 429, code: 20429, message: "Too Many Requests", retryAfterSeconds: 30);

        (await client.SendAsync(other, "first", CancellationToken.None)).Accepted.ShouldBeTrue();
        var refused = await client.SendAsync(limited, "second", CancellationToken.None);
        var retried = await client.SendAsync(limited, "third", CancellationToken.None);

        refused.Accepted.ShouldBeFalse();
        refused.HttpStatus.ShouldBe(429);
        refused.ErrorCode.ShouldBe(20429);
        refused.Transient.ShouldBeTrue();
        refused.RetryAfter.ShouldBe(TimeSpan.FromSeconds(30));
        retried.Accepted.ShouldBeTrue();
        twilio.Requests.Select(r => (r.Form["To"], r.Status)).ShouldBe([(other, 201), (limited, 429), (limited, 201)]);
        twilio.Accepted.Count().ShouldBe(2);
    }

    [Fact]
    public async Task A_permanent_error_is_not_transient()
    {
        await using var services = Client();
        var to = NewNumber();
        twilio.Enqueue(to, 400, code: 21610, message: "Attempt to send to unsubscribed recipient");

        var result = await services.GetRequiredService<TwilioClient>().SendAsync(to, "hello", CancellationToken.None);

        result.HttpStatus.ShouldBe(400);
        result.ErrorCode.ShouldBe(21610);
        result.Transient.ShouldBeFalse();
        twilio.Accepted.ShouldBeEmpty();
    }

    [Fact]
    public async Task Wrong_credentials_get_twilios_401_and_are_recorded_as_refused()
    {
        await using var services = Client(authToken: "not-the-token");

        var result = await services.GetRequiredService<TwilioClient>().SendAsync(NewNumber(), "hello", CancellationToken.None);

        result.HttpStatus.ShouldBe(401);
        result.ErrorCode.ShouldBe(20003);
        result.Transient.ShouldBeFalse();
        twilio.Requests.ShouldHaveSingleItem().Status.ShouldBe(401);
        twilio.Accepted.ShouldBeEmpty();
    }
}
