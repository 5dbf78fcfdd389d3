using Backstop.Features.Billing.Dunning;

namespace Backstop.Tests.Features.Billing;

/// <summary>Dunning belongs to the open invoice: a recovery by any path ends it, and the next failure starts a fresh grace.</summary>
public abstract class DunningRecoveryTests(BackstopFactory app) : AppTest(app)
{
    private const string Failed = "invoice.payment_failed";

    private Task RecoverThroughSubscriptionUpdatedAsync(BilledTenant t)
    {
        var now = App.Time.GetUtcNow().Second();
        return App.DeliverStripeAsync("customer.subscription.updated",
            BillingKit.StripeSubscription(t.StripeSubscriptionId, t.CustomerId, "price_pro_monthly", "active", now.AddDays(-1), now.AddDays(29)), now);
    }

    [Fact]
    public async Task Recovery_through_subscription_updated_then_a_new_failure_months_later_gives_a_fresh_seven_day_grace_and_a_first_email()
    {
        var t = await App.BilledTenantAsync();
        var oldInvoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, oldInvoice, attempt: 1));
        App.Time.Advance(TimeSpan.FromDays(2));
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, oldInvoice, attempt: 2));
        App.Time.Advance(TimeSpan.FromDays(1));

        await RecoverThroughSubscriptionUpdatedAsync(t);
        var recovered = await App.SubscriptionAsync(t.SubscriptionId);
        recovered.Status.ShouldBe("active");
        recovered.GraceEndsAt.ShouldBeNull();
        recovered.PaymentFailedAt.ShouldBeNull();
        recovered.PaymentRetryCount.ShouldBe(0);

        App.Time.Advance(TimeSpan.FromDays(90));
        var failedAt = App.Time.GetUtcNow();
        var newInvoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, newInvoice, attempt: 1));

        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.Status.ShouldBe("past_due");
        s.GraceEndsAt.ShouldBe(failedAt.AddDays(7));
        s.PaymentRetryCount.ShouldBe(1);
        var emails = await App.EmailsAsync($"dunning:{newInvoice}:1:");
        emails.Count.ShouldBe(2);
        emails.ShouldAllBe(e => e.Subject == DunningEmails.FirstSubject);
        emails[0].Text.ShouldContain(DunningEmails.When(failedAt.AddDays(7)));
        var access = await (await App.Client(t.Tenant).GetAsync("/v1/billing/access")).JsonAsync();
        access.GetProperty("refusalCode").GetString().ShouldBe("payment_past_due");
        access.GetProperty("canUse").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task A_voided_failing_invoice_ends_its_dunning_and_a_late_failure_of_it_starts_nothing()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1));
        App.Time.Advance(TimeSpan.FromDays(1));

        await App.DeliverStripeAsync("invoice.voided", DunningKit.Invoice(t, invoice, attempt: 1));
        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.GraceEndsAt.ShouldBeNull();
        s.PaymentFailedAt.ShouldBeNull();
        s.PaymentRetryCount.ShouldBe(0);

        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 2));
        (await App.SubscriptionAsync(t.SubscriptionId)).GraceEndsAt.ShouldBeNull();
        (await App.EmailsAsync($"dunning:{invoice}:2:")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Out_of_order_first_failures_never_move_the_grace_end_later()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        var now = App.Time.GetUtcNow().Second();
        var firstAttempt = now.AddDays(-2);

        // Attempt 2 is delivered first, attempt 1 (two days older) after it.
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 2), now);
        (await App.SubscriptionAsync(t.SubscriptionId)).GraceEndsAt.ShouldBe(now.AddDays(7));
        await App.DeliverStripeAsync(Failed, DunningKit.Invoice(t, invoice, attempt: 1), firstAttempt);

        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.GraceEndsAt.ShouldBe(firstAttempt.AddDays(7));
        s.PaymentRetryCount.ShouldBe(2);
    }
}

public sealed class DunningRecoveryTestsOnSqlite(SqliteApp<DunningSetup> app) : DunningRecoveryTests(app), IClassFixture<SqliteApp<DunningSetup>>;

public sealed class DunningRecoveryTestsOnPostgres(PostgresApp<DunningSetup> app) : DunningRecoveryTests(app), IClassFixture<PostgresApp<DunningSetup>>;
