namespace Backstop.Tests.Features.Messaging;

/// <summary>Twilio's webhooks through the real inbox endpoints: signature, storage, deduplication, then this slice's handlers.</summary>
public abstract class TwilioInboxTests(BackstopFactory app) : AppTest(app)
{
    private TwilioTestServer Twilio => (App.SetupAs<MessagingSetup>()).Twilio;

    private async Task<(HttpStatusCode Status, string? ContentType, string Body)> InboundAsync(string from, string body, string sid)
    {
        var response = await App.CreateClient().SendAsync(MessagingKit.SignedTwilioRequest("/webhooks/twilio/sms", MessagingKit.Inbound(from, body, sid)));
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Stop_through_the_inbox_opts_out_audits_once_and_answers_twiml_also_to_a_duplicate()
    {
        var from = MessagingKit.NewNumber();
        var sid = MessagingKit.NewSid();
        const string expected = """<?xml version="1.0" encoding="UTF-8"?><Response><Message>You have been unsubscribed and will receive no more messages. Reply START to resubscribe.</Message></Response>""";

        var first = await InboundAsync(from, "Stop", sid);
        var duplicate = await InboundAsync(from, "Stop", sid);

        first.Status.ShouldBe(HttpStatusCode.OK);
        first.ContentType.ShouldBe("text/xml");
        first.Body.ShouldBe(expected);
        duplicate.Status.ShouldBe(HttpStatusCode.OK);
        duplicate.Body.ShouldBe(expected);
        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(1);
        (await App.CountAsync("select count(*) from sms_consent_audit where phone_number = @from and message_sid = @sid", new { from, sid })).ShouldBe(1);

        var (client, _) = await App.TenantAsync();
        await (await client.PostJsonAsync("/v1/sms", new { to = from, body = "promo" })).ShouldBeProblemAsync(403, "recipient_opted_out");
    }

    [Fact]
    public async Task Start_through_the_inbox_opts_back_in()
    {
        var from = MessagingKit.NewNumber();
        (await InboundAsync(from, "QUIT", MessagingKit.NewSid())).Status.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromSeconds(1));
        var start = await InboundAsync(from, " unstop ", MessagingKit.NewSid());
        start.Body.ShouldContain("<Message>You have been resubscribed. Reply STOP to unsubscribe.</Message>");
        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(0);
        (await App.CountAsync("select count(*) from sms_consent_audit where phone_number = @from", new { from })).ShouldBe(2);
    }

    [Fact]
    public async Task A_badly_signed_inbound_message_changes_nothing()
    {
        var from = MessagingKit.NewNumber();
        var request = MessagingKit.SignedTwilioRequest("/webhooks/twilio/sms", MessagingKit.Inbound(from, "STOP", MessagingKit.NewSid()));
        request.Headers.Remove("X-Twilio-Signature");
        request.Headers.Add("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        var response = await App.CreateClient().SendAsync(request);
        ((int)response.StatusCode).ShouldBeInRange(400, 403);
        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(0);
    }

    [Fact]
    public async Task Status_callbacks_through_the_inbox_move_the_sms_to_delivered()
    {
        var (client, _) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        var id = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "hi" })).JsonAsync()).GetProperty("id").GetString()!;
        await App.DispatchAsync();
        var sid = Twilio.Accepted.Single(r => r.Form["To"] == to).Sid!;

        foreach (var status in new[] { "sent", "delivered", "delivered" })
        {
            var form = new Dictionary<string, string> { ["MessageSid"] = sid, ["MessageStatus"] = status, ["AccountSid"] = TwilioTestServer.AccountSid, ["To"] = to };
            (await App.CreateClient().SendAsync(MessagingKit.SignedTwilioRequest("/webhooks/twilio/status", form))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var view = await (await client.GetAsync($"/v1/sms/{id}")).JsonAsync();
        view.GetProperty("status").GetString().ShouldBe("delivered");
        view.GetProperty("providerSid").GetString().ShouldBe(sid);
    }
}

public sealed class TwilioInboxTestsOnSqlite(SqliteApp<MessagingSetup> app) : TwilioInboxTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class TwilioInboxTestsOnPostgres(PostgresApp<MessagingSetup> app) : TwilioInboxTests(app), IClassFixture<PostgresApp<MessagingSetup>>;
