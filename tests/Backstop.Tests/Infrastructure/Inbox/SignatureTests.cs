using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Providers.Paddle;
using Backstop.Infrastructure.Providers.Svix;
using Backstop.Infrastructure.Providers.Twilio;
using Stripe;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>The signature schemes against the providers' published (or independently recomputed) vectors, kept here in the tests.</summary>
public sealed class SignatureTests
{
    private static readonly TimeSpan FiveMinutes = TimeSpan.FromMinutes(5);

    // Svix's own test vector.
    private const string SvixSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string SvixId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long SvixTimestamp = 1614265330;
    private const string SvixBody = "{\"test\": 2432232314}";
    private const string SvixVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    private static Func<string, string?> Headers(params (string Name, string Value)[] headers) =>
        name => headers.Where(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    private static DateTimeOffset At(long unixSeconds) => DateTimeOffset.FromUnixTimeSeconds(unixSeconds);

    [Fact]
    public void Svix_signature_matches_the_official_vector()
    {
        SvixSignature.SignatureHeader(SvixSecret, SvixId, SvixTimestamp, Encoding.UTF8.GetBytes(SvixBody)).ShouldBe(SvixVectorSignature);
    }

    [Fact]
    public void Svix_verification_accepts_the_official_vector_with_either_header_family()
    {
        var body = Encoding.UTF8.GetBytes(SvixBody);
        SvixSignature.Verify(SvixSecret, Headers(("svix-id", SvixId), ("svix-timestamp", "1614265330"), ("svix-signature", SvixVectorSignature)),
            body, At(SvixTimestamp + 10), FiveMinutes).ShouldBe(SvixId);
        SvixSignature.Verify(SvixSecret, Headers(("webhook-id", SvixId), ("webhook-timestamp", "1614265330"), ("webhook-signature", "v1a,abc v1,bogus " + SvixVectorSignature)),
            body, At(SvixTimestamp - 10), FiveMinutes).ShouldBe(SvixId);
    }

    [Fact]
    public void Svix_verification_refuses_a_changed_body_a_stale_timestamp_and_missing_headers()
    {
        var headers = Headers(("svix-id", SvixId), ("svix-timestamp", "1614265330"), ("svix-signature", SvixVectorSignature));
        Should.Throw<WebhookRejectedException>(() => SvixSignature.Verify(SvixSecret, headers, Encoding.UTF8.GetBytes("{\"test\":2432232314}"), At(SvixTimestamp), FiveMinutes))
            .Code.ShouldBe("invalid_signature");
        Should.Throw<WebhookRejectedException>(() => SvixSignature.Verify(SvixSecret, headers, Encoding.UTF8.GetBytes(SvixBody), At(SvixTimestamp + 301), FiveMinutes))
            .Code.ShouldBe("stale_signature");
        Should.Throw<WebhookRejectedException>(() => SvixSignature.Verify(SvixSecret, headers, Encoding.UTF8.GetBytes(SvixBody), At(SvixTimestamp - 301), FiveMinutes))
            .Code.ShouldBe("stale_signature");
        Should.Throw<WebhookRejectedException>(() => SvixSignature.Verify(SvixSecret, Headers(("svix-id", SvixId), ("svix-timestamp", "1614265330")), Encoding.UTF8.GetBytes(SvixBody), At(SvixTimestamp), FiveMinutes))
            .Code.ShouldBe("missing_signature");
        // An entry without a comma is malformed and never matches.
        Should.Throw<WebhookRejectedException>(() => SvixSignature.Verify(SvixSecret, Headers(("svix-id", SvixId), ("svix-timestamp", "1614265330"), ("svix-signature", SvixVectorSignature.Replace(",", ""))), Encoding.UTF8.GetBytes(SvixBody), At(SvixTimestamp), FiveMinutes))
            .Code.ShouldBe("invalid_signature");
    }

    [Fact]
    public void Paddle_signature_matches_the_example_and_accepts_any_h1_during_rotation()
    {
        const string secret = "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI";
        var body = Encoding.UTF8.GetBytes("{\"event_id\":\"evt_01gks14ge726w50ch2tmaw2a1x\",\"event_type\":\"transaction.completed\"}");
        const string h1 = "a5c60fd0373200dee9a53505d517b9210c97ecd092b0dd1d8d8e1f7bab7e2656";
        PaddleSignature.Sign(secret, "1671552777", body).ShouldBe(h1);

        PaddleSignature.Verify(secret, $"ts=1671552777;h1={h1}", body, At(1671552777 + 3), FiveMinutes);
        PaddleSignature.Verify(secret, $"ts=1671552777;h1=00ff;h1={h1}", body, At(1671552777), FiveMinutes);
        Should.Throw<WebhookRejectedException>(() => PaddleSignature.Verify(secret, $"ts=1671552778;h1={h1}", body, At(1671552777), FiveMinutes))
            .Code.ShouldBe("invalid_signature");
        Should.Throw<WebhookRejectedException>(() => PaddleSignature.Verify(secret, $"ts=1671552777;h1={h1}", body, At(1671552777 + 6), TimeSpan.FromSeconds(5)))
            .Code.ShouldBe("stale_signature");
        Should.Throw<WebhookRejectedException>(() => PaddleSignature.Verify(secret, null, body, At(1671552777), FiveMinutes))
            .Code.ShouldBe("missing_signature");
    }

    [Theory]
    [InlineData("+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")]
    [InlineData("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc=")]
    [InlineData("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")]
    public void Twilio_signature_matches_the_vectors(string number, string expected)
    {
        var form = TwilioVectorForm(number);
        TwilioSign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form).ShouldBe(expected);
        TwilioSignature.Verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form, expected);
        // Twilio's SDKs accept the URL with an explicit default port too.
        TwilioSignature.Verify("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", form, expected);
    }

    [Fact]
    public void Twilio_json_body_signature_covers_the_url_with_the_body_hash()
    {
        const string body = """{"property": "value", "boolean": true}""";
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        var url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + hash;
        var signature = TwilioSign("12345", url, []);

        TwilioSignature.VerifyJson("12345", url, body, signature);
        Should.Throw<WebhookRejectedException>(() => TwilioSignature.VerifyJson("12345", url, body.Replace("true", "false"), signature))
            .Status.ShouldBe(403);
        Should.Throw<WebhookRejectedException>(() => TwilioSignature.VerifyJson("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", body, TwilioSign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", [])))
            .Status.ShouldBe(403);
        Should.Throw<WebhookRejectedException>(() => TwilioSignature.VerifyJson("12345", url, body, null)).Status.ShouldBe(400);
    }

    /// <summary>Twilio's algorithm, written here independently of the SDK the app uses.</summary>
    private static string TwilioSign(string token, string url, IEnumerable<KeyValuePair<string, string[]>> form)
    {
        var data = new StringBuilder(url);
        foreach (var (name, values) in form.OrderBy(p => p.Key, StringComparer.Ordinal))
            foreach (var value in values.Order(StringComparer.Ordinal))
                data.Append(name).Append(value);
        return Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(data.ToString())));
    }

    [Fact]
    public void Twilio_verification_answers_400_without_header_and_403_on_mismatch()
    {
        var form = TwilioVectorForm("+12349013030");
        var missing = Should.Throw<WebhookRejectedException>(() => TwilioSignature.Verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form, null));
        missing.Status.ShouldBe(400);
        var wrong = Should.Throw<WebhookRejectedException>(() => TwilioSignature.Verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        wrong.Status.ShouldBe(403);
        Should.Throw<WebhookRejectedException>(() => TwilioSignature.Verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form, "not base64!"))
            .Status.ShouldBe(403);
    }

    [Fact]
    public void Stripe_example_signature_is_accepted_by_stripe_net_and_a_stale_one_is_not()
    {
        const string body = "{\"id\":\"evt_test\",\"object\":\"event\"}";
        const string header = "t=1700000000,v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";
        EventUtility.ConstructEvent(body, header, "whsec_test_secret", 300, 1700000000 + 10, throwOnApiVersionMismatch: false).Id.ShouldBe("evt_test");
        Should.Throw<StripeException>(() => EventUtility.ConstructEvent(body, header, "whsec_test_secret", 300, 1700000000 + 301, false));
        Should.Throw<StripeException>(() => EventUtility.ConstructEvent(body, header, "whsec_test_secret", 300, 1700000000 - 301, false));
        Should.Throw<StripeException>(() => EventUtility.ConstructEvent(body, header, "whsec_other", 300, 1700000000, false));
    }

    private static KeyValuePair<string, string[]>[] TwilioVectorForm(string number) =>
    [
        new("CallSid", ["CA1234567890ABCDE"]),
        new("Caller", [number]),
        new("Digits", ["1234"]),
        new("From", [number]),
        new("To", ["+18005551212"]),
    ];
}
