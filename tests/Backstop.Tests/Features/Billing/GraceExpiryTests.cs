using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

public abstract class GraceExpiryTests(BackstopFactory app) : AppTest(app)
{
    private Task<JobRun> SweepAsync() => App.Service<JobRunner>().RunAsync(GraceExpiryJob.Id, CancellationToken.None);

    private static Dictionary<string, long> CountsOf(JobRun run) => JsonSerializer.Deserialize<Dictionary<string, long>>(run.Counts!)!;

    [Fact]
    public async Task The_job_suspends_at_the_grace_end_not_a_second_before_and_a_second_run_changes_and_sends_nothing()
    {
        var t = await App.BilledTenantAsync();
        var client = App.Client(t.Tenant);
        var meeting = (await (await client.CreateMeetingAsync()).JsonAsync()).GetProperty("id").GetString()!;
        await App.DeliverStripeAsync("invoice.payment_failed", DunningKit.Invoice(t, DunningKit.NewInvoiceId(), attempt: 1));
        var graceEnd = (await App.SubscriptionAsync(t.SubscriptionId)).GraceEndsAt!.Value;
        graceEnd.ShouldBe(App.Time.GetUtcNow().AddDays(7));

        App.Time.Advance(graceEnd - App.Time.GetUtcNow() - TimeSpan.FromSeconds(1));
        (await SweepAsync()).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("past_due");
        (await App.EmailsAsync($"suspended:{t.SubscriptionId}:")).ShouldBeEmpty();
        await (await client.CreateMeetingAsync()).ShouldBeProblemAsync(402, "payment_past_due");

        App.Time.Advance(TimeSpan.FromSeconds(1));
        var run = await SweepAsync();
        run.Outcome.ShouldBe(JobRunner.Succeeded);
        CountsOf(run)["suspended"].ShouldBeGreaterThanOrEqualTo(1);
        var s = await App.SubscriptionAsync(t.SubscriptionId);
        s.Status.ShouldBe("suspended");
        s.GraceEndsAt.ShouldBe(graceEnd);
        var notices = await App.EmailsAsync($"suspended:{t.SubscriptionId}:");
        notices.Select(n => n.To).ShouldBe(t.Owners, ignoreOrder: true);
        notices.ShouldAllBe(n => n.Subject == DunningEmails.SuspendedSubject && n.Text.Contains(DunningSetup.UpdatePaymentUrl));

        // Suspended: creating and starting a bot are both refused; reading is not.
        await (await client.CreateMeetingAsync()).ShouldBeProblemAsync(402, "subscription_suspended");
        await (await client.PostAsync($"/v1/meetings/{meeting}/bot", null)).ShouldBeProblemAsync(402, "subscription_suspended");
        App.SetupAs<DunningSetup>().Recall.CreateCalls(meeting).ShouldBeEmpty();
        (await client.GetAsync($"/v1/meetings/{meeting}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from meetings where organization_id = @OrganizationId and status = 'scheduled'", new { t.OrganizationId })).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromHours(1));
        (await SweepAsync()).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.SubscriptionAsync(t.SubscriptionId)).ShouldBe(s);
        (await App.EmailsAsync($"suspended:{t.SubscriptionId}:")).Count.ShouldBe(t.Owners.Count);
    }

    [Fact]
    public async Task Payment_after_suspension_restores_creation_and_bot_start()
    {
        var t = await App.BilledTenantAsync();
        var client = App.Client(t.Tenant);
        var meeting = (await (await client.CreateMeetingAsync()).JsonAsync()).GetProperty("id").GetString()!;
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync("invoice.payment_failed", DunningKit.Invoice(t, invoice, attempt: 1));
        App.Time.Advance(TimeSpan.FromDays(8));
        await SweepAsync();
        (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("suspended");

        await App.DeliverStripeAsync("invoice.paid", DunningKit.Invoice(t, invoice, attempt: 2));

        (await App.SubscriptionAsync(t.SubscriptionId)).ShouldBe(new DunningKit.SubscriptionState { Status = "active" });
        (await client.CreateMeetingAsync()).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await client.PostAsync($"/v1/meetings/{meeting}/bot", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.SetupAs<DunningSetup>().Recall.CreateCalls(meeting).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_payment_that_lands_before_the_run_keeps_the_subscription_out_of_the_sweep()
    {
        var t = await App.BilledTenantAsync();
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync("invoice.payment_failed", DunningKit.Invoice(t, invoice, attempt: 1));
        App.Time.Advance(TimeSpan.FromDays(7).Add(TimeSpan.FromMinutes(5)));
        await App.DeliverStripeAsync("invoice.paid", DunningKit.Invoice(t, invoice, attempt: 2));

        await SweepAsync();

        (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("active");
        (await App.EmailsAsync($"suspended:{t.SubscriptionId}:")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Twenty_concurrent_runs_suspend_each_subscription_once_with_one_notice_per_owner()
    {
        var tenants = new List<BilledTenant>();
        for (var i = 0; i < 3; i++) tenants.Add(await App.BilledTenantAsync("past_due", App.Time.GetUtcNow().AddMinutes(-1)));

        using var gate = new SemaphoreSlim(0);
        var runs = Enumerable.Range(0, 20).Select(async _ =>
        {
            await gate.WaitAsync();
            return await SweepAsync();
        }).ToList();
        gate.Release(20);
        var outcomes = await Task.WhenAll(runs);

        outcomes.ShouldAllBe(r => r.Outcome == JobRunner.Succeeded || r.Outcome == JobRunner.Skipped);
        foreach (var t in tenants)
        {
            (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("suspended");
            (await App.EmailsAsync($"suspended:{t.SubscriptionId}:")).Select(e => e.To).ShouldBe(t.Owners, ignoreOrder: true);
        }
    }

    [Fact]
    public async Task A_subscription_the_database_refuses_to_suspend_is_logged_and_counted_while_the_rest_of_its_batch_is_suspended()
    {
        var tenants = new List<BilledTenant>();
        for (var i = 0; i < 4; i++) tenants.Add(await App.BilledTenantAsync("past_due", App.Time.GetUtcNow().AddMinutes(-5)));
        var poisoned = tenants[1].SubscriptionId;
        var trigger = "tr_poison_" + Guid.NewGuid().ToString("N")[..8];
        await using var connection = await App.OpenAsync();
        // A real failure of one row inside the batch's transaction: the database itself refuses the update.
        if (App.DatabaseKind == "postgres")
        {
            await connection.ExecuteAsync($"""
                create function {trigger}() returns trigger language plpgsql as $$
                begin
                    if new.id = '{poisoned}' and new.status = 'suspended' then raise exception 'poisoned row'; end if;
                    return new;
                end $$;
                create trigger {trigger} before update on subscriptions for each row execute function {trigger}();
                """);
        }
        else
        {
            await connection.ExecuteAsync($"""
                create trigger {trigger} before update on subscriptions
                when new.id = '{poisoned}' and new.status = 'suspended'
                begin select raise(abort, 'poisoned row'); end
                """);
        }
        try
        {
            var run = await SweepAsync();

            run.Outcome.ShouldBe(JobRunner.Succeeded);
            CountsOf(run)["failed"].ShouldBe(1);
            foreach (var t in tenants.Where(t => t.SubscriptionId != poisoned))
            {
                (await App.SubscriptionAsync(t.SubscriptionId)).Status.ShouldBe("suspended");
                (await App.EmailsAsync($"suspended:{t.SubscriptionId}:")).Count.ShouldBe(t.Owners.Count);
            }
            (await App.SubscriptionAsync(poisoned)).Status.ShouldBe("past_due");
            (await App.EmailsAsync($"suspended:{poisoned}:")).ShouldBeEmpty();
        }
        finally
        {
            await connection.ExecuteAsync(App.DatabaseKind == "postgres"
                ? $"drop trigger {trigger} on subscriptions; drop function {trigger}();"
                : $"drop trigger {trigger}");
        }

        // The next run takes it: the failure was one row's, for one run.
        await SweepAsync();
        (await App.SubscriptionAsync(poisoned)).Status.ShouldBe("suspended");
        (await App.EmailsAsync($"suspended:{poisoned}:")).Count.ShouldBe(tenants[1].Owners.Count);
    }

    [Fact]
    public async Task More_past_due_subscriptions_than_a_batch_are_all_suspended_in_several_batches()
    {
        var count = GraceExpiryJob.BatchSize * 2 + 17;
        var ended = App.Time.GetUtcNow().AddHours(-2);
        var ids = new List<string>();
        await using (var connection = await App.OpenAsync())
        {
            await using var tx = await Db.BeginAsync(connection);
            var now = App.Time.GetUtcNow();
            var rows = Enumerable.Range(0, count).Select(_ =>
            {
                var id = Ids.New(App.Time);
                ids.Add(id);
                return new { id, org = "org_" + Guid.NewGuid().ToString("N"), sub = "sub_" + Guid.NewGuid().ToString("N"), ended, now };
            }).ToList();
            await connection.ExecuteAsync(
                """
                insert into subscriptions (id, organization_id, plan_code, provider, provider_subscription_id, status, grace_ends_at,
                                           payment_failed_at, payment_retry_count, created_at, updated_at)
                values (@id, @org, 'free', 'stripe', @sub, 'past_due', @ended, @ended, 1, @now, @now)
                """, rows, tx);
            await tx.CommitAsync();
        }

        var run = await SweepAsync();

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        CountsOf(run)["batches"].ShouldBeGreaterThanOrEqualTo(3);
        CountsOf(run)["suspended"].ShouldBeGreaterThanOrEqualTo(count);
        await using var check = await App.OpenAsync();
        var statuses = (await check.QueryAsync<string>(App.DatabaseKind == "postgres"
            ? "select status from subscriptions where id = any(@ids)"
            : "select status from subscriptions where id in @ids", new { ids = ids.ToArray() })).ToList();
        statuses.Count.ShouldBe(count);
        statuses.ShouldAllBe(s => s == "suspended");
    }
}

public sealed class GraceExpiryTestsOnSqlite(SqliteApp<DunningSetup> app) : GraceExpiryTests(app), IClassFixture<SqliteApp<DunningSetup>>;

public sealed class GraceExpiryTestsOnPostgres(PostgresApp<DunningSetup> app) : GraceExpiryTests(app), IClassFixture<PostgresApp<DunningSetup>>;
