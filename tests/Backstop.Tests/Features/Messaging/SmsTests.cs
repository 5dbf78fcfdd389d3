using System.Net.Http.Json;

namespace Backstop.Tests.Features.Messaging;

public abstract class SmsTests(BackstopFactory app) : AppTest(app)
{
    private TwilioTestServer Twilio => (App.SetupAs<MessagingSetup>()).Twilio;

    private async Task<string> StatusAsync(HttpClient client, string id) =>
        (await (await client.GetAsync($"/v1/sms/{id}")).JsonAsync()).GetProperty("status").GetString()!;

    [Fact]
    public async Task An_sms_is_queued_delivered_once_and_follows_status_callbacks()
    {
        var (client, _) = await App.TenantAsync();
        var local = MessagingKit.NewNumber();
        var response = await client.PostJsonAsync("/v1/sms", new { to = local[..2] + " (" + local[2..5] + ") " + local[5..8] + "-" + local[8..], body = "Your table is ready" });
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var json = await response.JsonAsync();
        var id = json.GetProperty("id").GetString()!;
        json.GetProperty("to").GetString().ShouldBe(local); // normalised to E.164
        (await StatusAsync(client, id)).ShouldBe("queued");

        await App.DispatchAsync();
        await App.DispatchAsync();
        var sent = Twilio.Accepted.Where(r => r.Form["To"] == local).ToList();
        sent.Count.ShouldBe(1);
        sent[0].Form["Body"].ShouldBe("Your table is ready");
        (await StatusAsync(client, id)).ShouldBe("sent");

        var sid = sent[0].Sid!;
        await App.HandleAsync(App.TwilioEvent("sms.status", sid + ":delivered", new Dictionary<string, string> { ["MessageSid"] = sid, ["MessageStatus"] = "delivered" }));
        (await StatusAsync(client, id)).ShouldBe("delivered");

        // A late "sent" callback does not move it back.
        await App.HandleAsync(App.TwilioEvent("sms.status", sid + ":sent", new Dictionary<string, string> { ["MessageSid"] = sid, ["MessageStatus"] = "sent" }));
        (await StatusAsync(client, id)).ShouldBe("delivered");
    }

    [Fact]
    public async Task A_failed_callback_marks_the_sms_failed_with_its_error_code()
    {
        var (client, _) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        var id = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "x" })).JsonAsync()).GetProperty("id").GetString()!;
        await App.DispatchAsync();
        var sid = Twilio.Accepted.Single(r => r.Form["To"] == to).Sid!;
        await App.HandleAsync(App.TwilioEvent("sms.status", sid + ":undelivered",
            new Dictionary<string, string> { ["MessageSid"] = sid, ["MessageStatus"] = "undelivered", ["ErrorCode"] = "30003" }));
        var view = await (await client.GetAsync($"/v1/sms/{id}")).JsonAsync();
        view.GetProperty("status").GetString().ShouldBe("failed");
        view.GetProperty("errorCode").GetString().ShouldBe("30003");
    }

    [Fact]
    public async Task A_status_callback_for_an_unrecorded_sid_is_retried_by_the_inbox_then_ignored()
    {
        var sid = MessagingKit.NewSid();
        var form = new Dictionary<string, string> { ["MessageSid"] = sid, ["MessageStatus"] = "delivered" };
        await Should.ThrowAsync<InvalidOperationException>(() => App.HandleAsync(App.TwilioEvent("sms.status", sid, form, attempts: 0)));
        await App.HandleAsync(App.TwilioEvent("sms.status", sid, form, attempts: 5));
    }

    [Fact]
    public async Task A_message_that_goes_dead_shows_failed()
    {
        var (client, _) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        Twilio.Enqueue(to, 400, code: 21610, message: "Attempt to send to unsubscribed recipient");
        var id = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "x" })).JsonAsync()).GetProperty("id").GetString()!;
        await App.DispatchAsync();
        var view = await (await client.GetAsync($"/v1/sms/{id}")).JsonAsync();
        view.GetProperty("status").GetString().ShouldBe("failed");
        view.GetProperty("error").GetString()!.ShouldContain("21610");
        view.GetProperty("errorCode").GetString().ShouldBe("21610");
    }

    [Fact]
    public async Task An_invalid_number_refused_by_twilio_shows_its_error_code()
    {
        var (client, _) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        Twilio.Enqueue(to, 400, code: 21211, message: "Invalid 'To' Phone Number");
        var id = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "x" })).JsonAsync()).GetProperty("id").GetString()!;
        await App.DispatchAsync();
        var view = await (await client.GetAsync($"/v1/sms/{id}")).JsonAsync();
        view.GetProperty("status").GetString().ShouldBe("failed");
        view.GetProperty("errorCode").GetString().ShouldBe("21211");
    }

    [Fact]
    public async Task Opt_out_and_consent_filters_normalise_the_number_and_refuse_what_is_no_number()
    {
        var from = MessagingKit.NewNumber();
        var sid = MessagingKit.NewSid();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", sid, MessagingKit.Inbound(from, "STOP", sid)));
        var national = $"+1 ({from[2..5]}) {from[5..8]}-{from[8..]}";

        var admin = App.AdminClient();
        foreach (var query in new[] { Uri.EscapeDataString(national), from /* '+' unescaped, as typed into curl */ })
        {
            foreach (var list in new[] { "opt-outs", "consent-audit" })
            {
                var page = await (await admin.GetAsync($"/v1/admin/sms/{list}?phoneNumber={query}")).JsonAsync();
                page.GetProperty("items").EnumerateArray().ShouldHaveSingleItem().GetProperty("phoneNumber").GetString().ShouldBe(from);
            }
        }
        await (await admin.GetAsync("/v1/admin/sms/opt-outs?phoneNumber=pigeon")).ShouldBeProblemAsync(400, "invalid_phone_number");
        await (await admin.GetAsync("/v1/admin/sms/consent-audit?phoneNumber=12")).ShouldBeProblemAsync(400, "invalid_phone_number");
    }

    [Fact]
    public async Task An_invalid_number_is_a_400_invalid_phone_number()
    {
        var (client, _) = await App.TenantAsync();
        await (await client.PostJsonAsync("/v1/sms", new { to = "12345", body = "x" })).ShouldBeProblemAsync(400, "invalid_phone_number");
        await (await client.PostJsonAsync("/v1/sms", new { to = "+1415555", body = "x" })).ShouldBeProblemAsync(400, "invalid_phone_number");
        await (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "" })).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task An_opted_out_recipient_is_refused_and_nothing_is_sent()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", MessagingKit.NewSid(), MessagingKit.Inbound(to, "STOP", MessagingKit.NewSid())));

        await (await client.PostJsonAsync("/v1/sms", new { to, body = "promo" })).ShouldBeProblemAsync(403, "recipient_opted_out");
        await App.DispatchAsync();

        Twilio.Requests.ShouldNotContain(r => r.Form.GetValueOrDefault("To") == to);
        (await App.CountAsync("select count(*) from sms_messages where organization_id = @organizationId", new { organizationId })).ShouldBe(0);
        (await App.CountAsync("select count(*) from outbox_messages where payload like @p", new { p = $"%{to}%" })).ShouldBe(0);
    }

    [Fact]
    public async Task A_stop_or_disabled_sms_after_queueing_still_stops_the_message_before_it_is_sent()
    {
        var (client, organizationId) = await App.TenantAsync();
        var stopped = MessagingKit.NewNumber();
        var queued = await (await client.PostJsonAsync("/v1/sms", new { to = stopped, body = "promo" })).JsonAsync();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", MessagingKit.NewSid(), MessagingKit.Inbound(stopped, "STOP", MessagingKit.NewSid())));

        var other = MessagingKit.NewNumber();
        var queuedOther = await (await client.PostJsonAsync("/v1/sms", new { to = other, body = "promo" })).JsonAsync();
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/organizations/{organizationId}/sms-settings", new { smsEnabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);

        await App.DispatchAsync();

        Twilio.Requests.ShouldNotContain(r => r.Form.GetValueOrDefault("To") == stopped || r.Form.GetValueOrDefault("To") == other);
        (await StatusAsync(client, queued.GetProperty("id").GetString()!)).ShouldBe("failed");
        (await StatusAsync(client, queuedOther.GetProperty("id").GetString()!)).ShouldBe("failed");
    }

    [Fact]
    public async Task Sms_settings_of_an_unknown_organization_are_404_and_nothing_is_stored()
    {
        var admin = App.AdminClient();
        var unknown = Guid.CreateVersion7().ToString();
        await (await admin.GetAsync($"/v1/admin/organizations/{unknown}/sms-settings")).ShouldBeProblemAsync(404, "not_found");
        await (await admin.PutAsJsonAsync($"/v1/admin/organizations/{unknown}/sms-settings", new { smsEnabled = false })).ShouldBeProblemAsync(404, "not_found");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from organization_sms_settings where organization_id = @unknown", new { unknown })).ShouldBe(0);
    }

    [Fact]
    public async Task An_organization_with_sms_disabled_is_refused()
    {
        var (client, organizationId) = await App.TenantAsync();
        var admin = App.AdminClient();
        var settings = await admin.GetAsync($"/v1/admin/organizations/{organizationId}/sms-settings");
        var settingsBody = await settings.Content.ReadAsStringAsync();
        settings.StatusCode.ShouldBe(HttpStatusCode.OK, settingsBody);
        (await settings.JsonAsync()).GetProperty("smsEnabled").GetBoolean().ShouldBeTrue(settingsBody);
        (await admin.PutAsJsonAsync($"/v1/admin/organizations/{organizationId}/sms-settings", new { smsEnabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);

        await (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).ShouldBeProblemAsync(403, "sms_disabled");
        var (other, _) = await App.TenantAsync();
        (await other.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        (await admin.PutAsJsonAsync($"/v1/admin/organizations/{organizationId}/sms-settings", new { smsEnabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await admin.PutAsJsonAsync($"/v1/admin/organizations/{organizationId}/sms-settings", new { })).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task Another_organizations_sms_is_not_found_and_sending_needs_the_write_scope()
    {
        var (client, _) = await App.TenantAsync();
        var id = (await (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).JsonAsync()).GetProperty("id").GetString()!;
        var (other, _) = await App.TenantAsync();
        await (await other.GetAsync($"/v1/sms/{id}")).ShouldBeProblemAsync(404, "not_found");

        var (readOnly, _) = await App.TenantAsync("read");
        await (await readOnly.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).ShouldBeProblemAsync(403, "insufficient_scope");
        (await readOnly.GetAsync($"/v1/sms/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound); // read scope suffices to look, but not across tenants
        (await App.CreateClient().PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Stop_opts_out_with_an_audit_row_and_a_twiml_answer_and_a_duplicate_changes_nothing()
    {
        var from = MessagingKit.NewNumber();
        var sid = MessagingKit.NewSid();
        var stop = App.TwilioEvent("sms.inbound", sid, MessagingKit.Inbound(from, "  stop ", sid));

        await App.HandleAsync(stop);
        await App.HandleAsync(stop with { Id = Guid.NewGuid().ToString(), Attempts = 1 }); // redelivered / replayed

        var reply = App.Reply(stop);
        reply.ContentType.ShouldBe("text/xml");
        reply.Body.ShouldBe("""<?xml version="1.0" encoding="UTF-8"?><Response><Message>You have been unsubscribed and will receive no more messages. Reply START to resubscribe.</Message></Response>""");

        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(1);
        (await App.CountAsync("select count(*) from sms_consent_audit where phone_number = @from", new { from })).ShouldBe(1);

        var admin = App.AdminClient();
        var audit = await (await admin.GetAsync($"/v1/admin/sms/consent-audit?phoneNumber={Uri.EscapeDataString(from)}")).JsonAsync();
        var row = audit.GetProperty("items").EnumerateArray().Single();
        row.GetProperty("action").GetString().ShouldBe("opt_out");
        row.GetProperty("method").GetString().ShouldBe("keyword");
        row.GetProperty("keyword").GetString().ShouldBe("STOP");
        row.GetProperty("messageSid").GetString().ShouldBe(sid);
        var optOuts = await (await admin.GetAsync($"/v1/admin/sms/opt-outs?phoneNumber={Uri.EscapeDataString(from)}")).JsonAsync();
        optOuts.GetProperty("items").EnumerateArray().Single().GetProperty("phoneNumber").GetString().ShouldBe(from);
    }

    [Fact]
    public async Task Start_opts_back_in_and_sending_works_again()
    {
        var (client, _) = await App.TenantAsync();
        var from = MessagingKit.NewNumber();
        foreach (var keyword in new[] { "UNSUBSCRIBE", "Yes" })
        {
            var sid = MessagingKit.NewSid();
            await App.HandleAsync(App.TwilioEvent("sms.inbound", sid, MessagingKit.Inbound(from, keyword, sid)));
            App.Time.Advance(TimeSpan.FromSeconds(1));
        }

        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(0);
        await using (var connection = await App.OpenAsync())
            (await connection.QueryAsync<string>("select action from sms_consent_audit where phone_number = @from order by id", new { from }))
                .ShouldBe(["opt_out", "opt_in"]);
        var sidStart = MessagingKit.NewSid();
        App.Reply(App.TwilioEvent("sms.inbound", sidStart, MessagingKit.Inbound(from, "start", sidStart))).Body.ShouldContain("<Message>You have been resubscribed.");
        (await client.PostJsonAsync("/v1/sms", new { to = from, body = "welcome back" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task A_stop_processed_late_after_a_later_start_leaves_the_number_opted_in_and_is_audited_as_skipped()
    {
        var (client, _) = await App.TenantAsync();
        var from = MessagingKit.NewNumber();
        var (stopSid, startSid) = (MessagingKit.NewSid(), MessagingKit.NewSid());
        // The user sends STOP (received at t1) and then START (received at t2); the STOP's inline processing failed,
        // so the inbox retries it only after the START was processed.
        var stop = App.TwilioEvent("sms.inbound", stopSid, MessagingKit.Inbound(from, "STOP", stopSid));
        App.Time.Advance(TimeSpan.FromSeconds(5));
        var start = App.TwilioEvent("sms.inbound", startSid, MessagingKit.Inbound(from, "START", startSid));
        App.Time.Advance(TimeSpan.FromMinutes(1));

        await App.HandleAsync(start);
        await App.HandleAsync(stop with { Attempts = 1 });

        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(0);
        (await client.PostJsonAsync("/v1/sms", new { to = from, body = "still subscribed" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var audit = await (await App.AdminClient().GetAsync($"/v1/admin/sms/consent-audit?phoneNumber={Uri.EscapeDataString(from)}")).JsonAsync();
        var rows = audit.GetProperty("items").EnumerateArray().ToDictionary(r => r.GetProperty("messageSid").GetString()!);
        rows[startSid].GetProperty("applied").GetBoolean().ShouldBeTrue();
        rows[stopSid].GetProperty("action").GetString().ShouldBe("opt_out");
        rows[stopSid].GetProperty("applied").GetBoolean().ShouldBeFalse();

        // A STOP received later than the START still opts out, and an older START retried after it cannot undo it.
        var laterStopSid = MessagingKit.NewSid();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", laterStopSid, MessagingKit.Inbound(from, "STOP", laterStopSid)));
        var oldStartSid = MessagingKit.NewSid();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", oldStartSid, MessagingKit.Inbound(from, "START", oldStartSid)) with
        {
            ReceivedAt = start.ReceivedAt.AddSeconds(1),
            Attempts = 2,
        });
        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(1);
        await (await client.PostJsonAsync("/v1/sms", new { to = from, body = "promo" })).ShouldBeProblemAsync(403, "recipient_opted_out");
    }

    [Fact]
    public async Task Help_is_answered_and_ordinary_messages_change_nothing()
    {
        var from = MessagingKit.NewNumber();
        var help = App.TwilioEvent("sms.inbound", "h", MessagingKit.Inbound(from, "info", MessagingKit.NewSid()));
        await App.HandleAsync(help);
        App.Reply(help).Body.ShouldBe("""<?xml version="1.0" encoding="UTF-8"?><Response><Message>Reply STOP to unsubscribe, START to resubscribe. Msg&amp;data rates may apply.</Message></Response>""");

        var chat = App.TwilioEvent("sms.inbound", "c", MessagingKit.Inbound(from, "STOP PLEASE", MessagingKit.NewSid()));
        await App.HandleAsync(chat);
        App.Reply(chat).Body.ShouldBe("""<?xml version="1.0" encoding="UTF-8"?><Response></Response>""");

        (await App.CountAsync("select count(*) from sms_consent_audit where phone_number = @from", new { from })).ShouldBe(0);
        (await App.CountAsync("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(0);
    }
}

public sealed class SmsTestsOnSqlite(SqliteApp<MessagingSetup> app) : SmsTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class SmsTestsOnPostgres(PostgresApp<MessagingSetup> app) : SmsTests(app), IClassFixture<PostgresApp<MessagingSetup>>;
