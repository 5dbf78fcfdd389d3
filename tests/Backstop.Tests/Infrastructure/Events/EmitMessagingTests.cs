using Backstop.Infrastructure.Events;
using Backstop.Tests.Features.Messaging;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>Messaging's events: Twilio's status callbacks and the dispatcher's final failure (the organization's), STOP and START (the operator's).</summary>
public abstract class EmitMessagingTests(BackstopFactory app) : AppTest(app)
{
    private TwilioTestServer Twilio => App.SetupAs<MessagingSetup>().Twilio;

    private static Dictionary<string, string> Status(string sid, string status) => new() { ["MessageSid"] = sid, ["MessageStatus"] = status };

    [Fact]
    public async Task A_delivered_and_a_failed_callback_each_write_one_event_of_the_sms_organization()
    {
        var (client, organizationId) = await App.TenantAsync();
        var (to, other) = (MessagingKit.NewNumber(), MessagingKit.NewNumber());
        var delivered = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "Your table is ready" })).JsonAsync()).GetProperty("id").GetString()!;
        var failed = (await (await client.PostJsonAsync("/v1/sms", new { to = other, body = "x" })).JsonAsync()).GetProperty("id").GetString()!;
        await App.DispatchAsync();
        await App.DispatchAsync();
        var sid = Twilio.Accepted.Single(r => r.Form["To"] == to).Sid!;
        var otherSid = Twilio.Accepted.Single(r => r.Form["To"] == other).Sid!;

        await App.HandleAsync(App.TwilioEvent("sms.status", sid + ":sent", Status(sid, "sent")));
        (await App.EventsAsync(organizationId, "sms.")).ShouldBeEmpty();
        await App.HandleAsync(App.TwilioEvent("sms.status", sid + ":delivered", Status(sid, "delivered")));
        // A late or repeated callback moves nothing: no second event.
        await App.HandleAsync(App.TwilioEvent("sms.status", sid + ":delivered:again", Status(sid, "delivered")));
        await App.HandleAsync(App.TwilioEvent("sms.status", otherSid + ":undelivered",
            new Dictionary<string, string> { ["MessageSid"] = otherSid, ["MessageStatus"] = "undelivered", ["ErrorCode"] = "30003" }));

        var events = await App.EventsAsync(organizationId, "sms.");
        events.Select(e => e.Type).ShouldBe([EventTypes.SmsDelivered, EventTypes.SmsFailed]);
        events[0].Data.GetProperty("id").GetString().ShouldBe(delivered);
        events[0].Data.GetProperty("status").GetString().ShouldBe("delivered");
        events[0].Data.GetProperty("providerSid").GetString().ShouldBe(sid);
        events[0].Data.GetProperty("to").GetString().ShouldBe(to);
        events[0].Data.GetRawText().ShouldNotContain("Your table is ready");
        events[1].Data.GetProperty("id").GetString().ShouldBe(failed);
        events[1].Data.GetProperty("errorCode").GetString().ShouldBe("30003");
    }

    [Fact]
    public async Task A_send_the_dispatcher_gives_up_on_writes_sms_failed()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        Twilio.Enqueue(to, 400, code: 21610, message: "Attempt to send to unsubscribed recipient");
        var id = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "x" })).JsonAsync()).GetProperty("id").GetString()!;
        await App.DispatchAsync();

        var e = (await App.EventsAsync(organizationId, "sms.")).ShouldHaveSingleItem();
        e.Type.ShouldBe(EventTypes.SmsFailed);
        e.Data.GetProperty("id").GetString().ShouldBe(id);
        e.Data.GetProperty("status").GetString().ShouldBe("failed");
    }

    [Fact]
    public async Task Stop_and_start_through_the_inbox_write_opted_out_and_opted_in_once_and_a_failed_callback_writes_nothing()
    {
        var from = MessagingKit.NewNumber();
        var (stop, start) = (MessagingKit.NewSid(), MessagingKit.NewSid());
        foreach (var (body, sid) in new[] { ("STOP", stop), ("STOP", stop), ("START", start) })
        {
            // Consent follows the message received last: START comes a second after STOP.
            App.Time.Advance(TimeSpan.FromSeconds(1));
            (await App.CreateClient().SendAsync(MessagingKit.SignedTwilioRequest("/webhooks/twilio/sms", MessagingKit.Inbound(from, body, sid))))
                .StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var optedOut = (await App.OperatorEventsAsync(EventTypes.SmsOptedOut, "phoneNumber", from)).ShouldHaveSingleItem();
        optedOut.OrganizationId.ShouldBeNull();
        optedOut.Data.GetProperty("optedOut").GetBoolean().ShouldBeTrue();
        optedOut.Data.GetProperty("messageSid").GetString().ShouldBe(stop);
        var optedIn = (await App.OperatorEventsAsync(EventTypes.SmsOptedIn, "phoneNumber", from)).ShouldHaveSingleItem();
        optedIn.Data.GetProperty("optedOut").GetBoolean().ShouldBeFalse();
        optedIn.Data.GetProperty("messageSid").GetString().ShouldBe(start);
        optedIn.Sequence.ShouldBeGreaterThan(optedOut.Sequence);

        // A callback for a SID not recorded yet fails (the inbox retries it): its transaction, and any event, rolled back.
        var unknown = MessagingKit.NewSid();
        await Should.ThrowAsync<InvalidOperationException>(() => App.HandleAsync(App.TwilioEvent("sms.status", unknown, Status(unknown, "delivered"))));
        await using var connection = await App.OpenAsync();
        (await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "select count(*) from events where data like @sid", new { sid = $"%{unknown}%" })).ShouldBe(0);
    }
}

public sealed class EmitMessagingTestsOnSqlite(SqliteApp<MessagingSetup> app) : EmitMessagingTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class EmitMessagingTestsOnPostgres(PostgresApp<MessagingSetup> app) : EmitMessagingTests(app), IClassFixture<PostgresApp<MessagingSetup>>;
