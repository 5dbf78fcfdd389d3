using Backstop.Features.Billing.Dunning;

namespace Backstop.Tests.Features.Billing;

public abstract class DunningTests(BackstopFactory app) : AppTest(app)
{
    private const string Failed = "invoice.payment_failed";

    [Fact]
    public async Task First_failure_is_past_due_with_grace_exactly_seven_days_later_and_the_owners_get_the_first_email()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        var failedAt = App.Time.GetUtcNow();

        var eventId = await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1, amountDue: 4900, currency: "usd"));

        (await App.EventStatusAsync(eventId)).ShouldBe("processed");
        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.Status.ShouldBe("past_due");
        s.GraceEndsAt.ShouldBe(failedAt.AddDays(7));
        s.PaymentFailedAt.ShouldBe(failedAt);
        s.PaymentRetryCount.ShouldBe(1);

        var emails = await App.EmailsAsync($"dunning:{invoice}:1:");
        emails.Select(e => e.To).ShouldBe(t.Owners, ignoreOrder: true);
        foreach (var email in emails)
        {
            email.Subject.ShouldBe(DunningEmails.FirstSubject);
            email.Text.ShouldContain("49.00 USD");
            email.Text.ShouldContain(DunningEmails.When(failedAt.AddDays(7)));
            email.Text.ShouldContain(DunningSetup.UpdatePaymentUrl);
            email.Html.ShouldNotBeNull().ShouldContain($"href=\"{DunningSetup.UpdatePaymentUrl}\"");
        }
    }

    [Fact]
    public async Task Second_failure_keeps_the_grace_end_counts_two_and_sends_the_second_email_and_the_third_the_final_one()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        var first = App.Time.GetUtcNow();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1));

        App.Time.Advance(TimeSpan.FromDays(3));
        var second = App.Time.GetUtcNow();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 2));
        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.Status.ShouldBe("past_due");
        s.GraceEndsAt.ShouldBe(first.AddDays(7));
        s.PaymentFailedAt.ShouldBe(second);
        s.PaymentRetryCount.ShouldBe(2);
        var secondEmails = await App.EmailsAsync($"dunning:{invoice}:2:");
        secondEmails.Count.ShouldBe(2);
        secondEmails.ShouldAllBe(e => e.Subject == DunningEmails.SecondSubject);
        secondEmails[0].Text.ShouldContain(DunningEmails.When(first.AddDays(7)));

        App.Time.Advance(TimeSpan.FromDays(2));
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 3));
        (await App.SubscriptionAsync(t.SubscriptionId)).PaymentRetryCount.ShouldBe(3);
        (await App.EmailsAsync($"dunning:{invoice}:3:")).ShouldAllBe(e => e.Subject == DunningEmails.FinalSubject);
        (await App.EmailsAsync($"dunning:{invoice}:3:")).Count.ShouldBe(2);

        // A fourth attempt is still the final notice, and the grace end never moved.
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 4));
        (await App.EmailsAsync($"dunning:{invoice}:4:")).ShouldAllBe(e => e.Subject == DunningEmails.FinalSubject);
        (await App.SubscriptionAsync(t.SubscriptionId)).GraceEndsAt.ShouldBe(first.AddDays(7));
        (await App.EmailsAsync($"dunning:{invoice}:")).Count.ShouldBe(8);
    }

    [Fact]
    public async Task The_same_failure_delivered_five_times_is_counted_once_and_emailed_once_and_so_is_one_attempt_under_two_event_ids()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        var eventId = DunningKit.NewEventId();
        for (var i = 0; i < 5; i++) await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1), eventId: eventId);

        (await App.CountAsync("select count(*) from webhook_events where provider = 'stripe' and event_id = @eventId", new { eventId })).ShouldBe(1);
        (await App.SubscriptionAsync(t.SubscriptionId)).PaymentRetryCount.ShouldBe(1);
        (await App.EmailsAsync($"dunning:{invoice}:")).Count.ShouldBe(t.Owners.Count);

        // Stripe can report one attempt twice under different event ids: the attempt is the unit, not the event.
        var other = await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1));
        (await App.EventStatusAsync(other)).ShouldBe("processed");
        (await App.SubscriptionAsync(t.SubscriptionId)).PaymentRetryCount.ShouldBe(1);
        (await App.CountAsync("select count(*) from billing_payment_failures where invoice_id = @invoice", new { invoice })).ShouldBe(1);
        (await App.EmailsAsync($"dunning:{invoice}:")).Count.ShouldBe(t.Owners.Count);

        // What is sent is one message per owner (the pickup folder gets exactly those).
        await App.DispatchAsync();
        var files = Directory.Exists(App.SetupAs<DunningSetup>().MailPath)
            ? Directory.GetFiles(App.SetupAs<DunningSetup>().MailPath, "*.eml").Select(File.ReadAllText).Where(f => f.Contains(invoice, StringComparison.Ordinal)).ToList()
            : [];
        files.Count.ShouldBe(t.Owners.Count);
    }

    [Fact]
    public async Task Twenty_four_concurrent_deliveries_of_one_attempt_under_distinct_event_ids_count_it_once()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        using var gate = new SemaphoreSlim(0);
        var deliveries = Enumerable.Range(0, 24).Select(async _ =>
        {
            await gate.WaitAsync();
            return await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 2));
        }).ToList();
        gate.Release(24);
        var ids = await Task.WhenAll(deliveries);

        foreach (var id in ids) (await App.EventStatusAsync(id)).ShouldBe("processed");
        (await App.CountAsync("select count(*) from billing_payment_failures where invoice_id = @invoice", new { invoice })).ShouldBe(1);
        (await App.SubscriptionAsync(t.SubscriptionId)).PaymentRetryCount.ShouldBe(1);
        (await App.EmailsAsync($"dunning:{invoice}:")).Count.ShouldBe(t.Owners.Count);
    }

    [Fact]
    public async Task During_the_grace_reads_are_allowed_and_creation_is_refused_402_payment_past_due_with_the_grace_end_and_update_url()
    {
        var t = await App.BilledTenantAsync();
        var client = App.Client(t.Tenant);
        (await client.CreateMeetingAsync()).StatusCode.ShouldBe(HttpStatusCode.Created);
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, DunningKit.NewInvoiceId(), attempt: 1));
        var graceEnd = App.Time.GetUtcNow().AddDays(7);

        App.Time.Advance(TimeSpan.FromDays(6));
        var list = await client.GetAsync("/v1/meetings");
        list.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await list.JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(1);

        var refused = await (await client.CreateMeetingAsync()).ShouldBeProblemAsync(402, "payment_past_due");
        refused.GetProperty("graceEndsAt").GetDateTimeOffset().ShouldBe(graceEnd);
        refused.GetProperty("updatePaymentUrl").GetString().ShouldBe(DunningSetup.UpdatePaymentUrl);
        (await App.CountAsync("select count(*) from meetings where organization_id = @OrganizationId", new { t.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task Payment_success_clears_status_grace_failure_time_and_retry_count_and_creation_works_again()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1));
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 2));
        var client = App.Client(t.Tenant);
        await (await client.CreateMeetingAsync()).ShouldBeProblemAsync(402, "payment_past_due");

        // Attempt 3's failure is delayed in transit; attempt 4 succeeds.
        await App.DeliverStripeAsync("invoice.paid", DunningKit.Invoice(t, invoice, attempt: 4));
        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.ShouldBe(new DunningKit.SubscriptionState { Status = "active", GraceEndsAt = null, PaymentFailedAt = null, PaymentRetryCount = 0 });
        (await client.CreateMeetingAsync()).StatusCode.ShouldBe(HttpStatusCode.Created);

        // Its twin event changes nothing more, and a failure of the paid invoice delivered late starts no dunning.
        await App.DeliverStripeAsync("invoice.payment_succeeded", DunningKit.Invoice(t, invoice, attempt: 4));
        var late = await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 3));
        (await App.EventStatusAsync(late)).ShouldBe("processed");
        (await App.SubscriptionAsync(t.SubscriptionId)).ShouldBe(s);
        (await App.EmailsAsync($"dunning:{invoice}:3:")).ShouldBeEmpty();

        // A new invoice failing later starts a new grace period, counted from one again.
        App.Time.Advance(TimeSpan.FromDays(30));
        var next = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, next, attempt: 1));
        var again = await App.SubscriptionAsync(t.SubscriptionId);
        again.Status.ShouldBe("past_due");
        again.PaymentRetryCount.ShouldBe(1);
        again.GraceEndsAt.ShouldBe(App.Time.GetUtcNow().AddDays(7));
        (await App.EmailsAsync($"dunning:{next}:1:")).ShouldAllBe(e => e.Subject == DunningEmails.FirstSubject);
    }

    [Fact]
    public async Task An_older_endpoint_version_with_a_top_level_subscription_is_read_too()
    {
        var t = await App.BilledTenantAsync();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, DunningKit.NewInvoiceId(), attempt: 1, legacyShape: true));
        (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("past_due");
    }

    [Fact]
    public async Task A_failure_for_an_unknown_subscription_or_an_unreadable_invoice_is_logged_and_handled_without_retry()
    {
        var t = await App.BilledTenantAsync();
        var stranger = t with { StripeSubscriptionId = "sub_unknown_" + Guid.NewGuid().ToString("N")[..8] };
        var unknown = await App.DeliverStripeAsync(Failed, DunningKit.Invoice(stranger, DunningKit.NewInvoiceId(), attempt: 1));
        var garbage = await App.DeliverStripeAsync(Failed, new Dictionary<string, object?> { ["object"] = "invoice", ["attempt_count"] = "three" });

        (await App.EventStatusAsync(unknown)).ShouldBe("processed");
        (await App.EventStatusAsync(garbage)).ShouldBe("processed");
        (await App.CountAsync("select attempts from webhook_events where event_id = @unknown", new { unknown })).ShouldBe(1);
        (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("active");
    }

    [Fact]
    public async Task Payment_action_required_emails_the_hosted_invoice_url_once_per_invoice()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        var hosted = $"https://invoice.stripe.com/i/acct_test/{invoice}?s=ap";
        for (var i = 0; i < 3; i++)
            await App.DeliverStripeAsync("invoice.payment_action_required", DunningKit.Invoice(t, invoice, attempt: 1, hostedUrl: hosted));

        var emails = await App.EmailsAsync($"payment_action:{invoice}:");
        emails.Select(e => e.To).ShouldBe(t.Owners, ignoreOrder: true);
        emails.ShouldAllBe(e => e.Subject == DunningEmails.ActionRequiredSubject && e.Text.Contains(hosted));
        (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("active");
    }

    [Fact]
    public async Task A_suspended_subscription_stays_suspended_on_a_further_failure()
    {
        var graceEnd = App.Time.GetUtcNow().AddDays(-1);
        var t = await App.BilledTenantAsync("suspended", graceEnd);
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, DunningKit.NewInvoiceId(), attempt: 4));
        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.Status.ShouldBe("suspended");
        s.GraceEndsAt.ShouldBe(graceEnd);
    }

    [Fact]
    public async Task A_failed_first_payment_of_an_incomplete_subscription_neither_gates_the_organization_nor_sends_dunning()
    {
        var t = await App.BilledTenantAsync("incomplete");
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1));

        (await App.SubscriptionAsync(t.SubscriptionId)).ShouldBe(new DunningKit.SubscriptionState { Status = "incomplete" });
        (await App.EmailsAsync($"dunning:{invoice}:")).ShouldBeEmpty();
        (await App.Client(t.Tenant).CreateMeetingAsync()).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public void Amounts_are_formatted_in_the_currency_s_own_minor_unit()
    {
        DunningEmails.Money(4900, "usd").ShouldBe("49.00 USD");
        DunningEmails.Money(123456789, "eur").ShouldBe("1,234,567.89 EUR");
        DunningEmails.Money(5000, "jpy").ShouldBe("5,000 JPY");
        DunningEmails.Money(1500, "kwd").ShouldBe("1.500 KWD");
        DunningEmails.Money(null, "usd").ShouldBe("the amount due in USD");
    }
}

public sealed class DunningTestsOnSqlite(SqliteApp<DunningSetup> app) : DunningTests(app), IClassFixture<SqliteApp<DunningSetup>>;

public sealed class DunningTestsOnPostgres(PostgresApp<DunningSetup> app) : DunningTests(app), IClassFixture<PostgresApp<DunningSetup>>;
