using System.Net.Http.Json;
using Backstop.Features.Billing.Coupons;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

/// <summary>The application with Stripe on a local fake, for plan changes and coupons.</summary>
public class PlansSetup : StripeSetup;

/// <summary>Coupons: the operator API, race-proof redemption, the checkout's hold given back on expiry, the daily recount.</summary>
public abstract class CouponTests(BackstopFactory app) : AppTest(app)
{
    private static string NewCode() => "SAVE" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();

    private async Task<string> CreateCouponAsync(int? maxRedemptions = null, bool firstTimeOnly = false, DateTimeOffset? expiresAt = null, string? code = null)
    {
        code ??= NewCode();
        var response = await App.AdminClient().PostJsonAsync("/v1/admin/coupons", new
        {
            code, percentOff = 20, duration = "once", stripeCouponId = "coupon_" + code, maxRedemptions, firstTimeOnly, expiresAt,
        });
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return code;
    }

    private Task<CouponHold> HoldAsync(string code, string organizationId, string? reference = null) =>
        App.Service<Db>().InTransactionAsync((c, tx) => App.Service<CouponRedemptions>().HoldAsync(c, tx, code, organizationId, reference ?? "test:" + organizationId, CancellationToken.None));

    private async Task<(long TimesRedeemed, long Counted, long Rows)> CountsAsync(string code)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(long, long, long)>(
            """
            select c.times_redeemed,
                   (select count(*) from coupon_redemptions r where r.coupon_id = c.id and r.state in ('held', 'redeemed')),
                   (select count(*) from coupon_redemptions r where r.coupon_id = c.id)
            from coupons c where c.code = @code
            """, new { code });
    }

    [Fact]
    public async Task Twenty_concurrent_redemptions_of_a_coupon_with_5_left_hold_exactly_5()
    {
        var code = await CreateCouponAsync(maxRedemptions: 8);
        for (var i = 0; i < 3; i++) await HoldAsync(code, Guid.NewGuid().ToString());

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            try
            {
                await HoldAsync(code, Guid.NewGuid().ToString());
                return "held";
            }
            catch (ProblemException e)
            {
                return e.Code;
            }
        })));

        outcomes.Count(o => o == "held").ShouldBe(5);
        outcomes.Where(o => o != "held").ShouldAllBe(o => o == "coupon_exhausted");
        (await CountsAsync(code)).ShouldBe((8, 8, 8));
        var coupon = await (await App.AdminClient().GetAsync($"/v1/admin/coupons/{code.ToLowerInvariant()}")).JsonAsync();
        coupon.GetProperty("timesRedeemed").GetInt32().ShouldBe(8);
        coupon.GetProperty("maxRedemptions").GetInt32().ShouldBe(8);
    }

    [Fact]
    public async Task The_same_organization_redeeming_twenty_times_at_once_redeems_once()
    {
        var code = await CreateCouponAsync(maxRedemptions: 100);
        var organizationId = Guid.NewGuid().ToString();

        // Twenty different operations (checkouts) of one organization, not retries of one.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            try
            {
                await HoldAsync(code, organizationId, $"checkout:{i}");
                return "held";
            }
            catch (ProblemException e)
            {
                return e.Code;
            }
        })));

        outcomes.Count(o => o == "held").ShouldBe(1);
        outcomes.Where(o => o != "held").ShouldAllBe(o => o == "coupon_already_redeemed");
        (await CountsAsync(code)).ShouldBe((1, 1, 1));
    }

    [Fact]
    public async Task Holding_again_under_the_same_reference_returns_the_same_hold_counted_once()
    {
        var code = await CreateCouponAsync(maxRedemptions: 2);
        var organizationId = Guid.NewGuid().ToString();

        var first = await HoldAsync(code, organizationId, "checkout:retry-key");
        var again = await HoldAsync(code, organizationId, "checkout:retry-key");

        again.RedemptionId.ShouldBe(first.RedemptionId);
        (await CountsAsync(code)).ShouldBe((1, 1, 1));
        (await Should.ThrowAsync<ProblemException>(() => HoldAsync(code, organizationId, "checkout:another-key"))).Code.ShouldBe("coupon_already_redeemed");
    }

    [Fact]
    public async Task An_expired_checkout_gives_its_redemption_back_once_however_often_the_event_comes()
    {
        var code = await CreateCouponAsync(maxRedemptions: 1);
        var organizationId = Guid.NewGuid().ToString();
        var hold = await HoldAsync(code, organizationId, "checkout:" + organizationId);
        hold.StripeCouponId.ShouldBe("coupon_" + code);
        var sessionId = "cs_test_" + Guid.NewGuid().ToString("N");
        await App.Service<Db>().InTransactionAsync((c, tx) => App.Service<CouponRedemptions>().AttachCheckoutSessionAsync(c, tx, hold.RedemptionId, sessionId, CancellationToken.None));
        (await Should.ThrowAsync<ProblemException>(() => HoldAsync(code, Guid.NewGuid().ToString()))).Code.ShouldBe("coupon_exhausted");

        var now = App.Time.GetUtcNow();
        var session = new Dictionary<string, object?> { ["id"] = sessionId, ["object"] = "checkout.session", ["status"] = "expired", ["metadata"] = new Dictionary<string, object?>() };
        var client = App.CreateClient();
        var firstId = "evt_" + Guid.NewGuid().ToString("N");
        (await client.SendAsync(StripeSetup.Event(firstId, "checkout.session.expired", session, now, now))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.SendAsync(StripeSetup.Event(firstId, "checkout.session.expired", session, now, now))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "checkout.session.expired", session, now, now))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await CountsAsync(code)).ShouldBe((0, 0, 1));
        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = hold.RedemptionId })).ShouldBe(RedemptionState.Released);
        // What was given back can be redeemed again, by anyone, exactly once more.
        await HoldAsync(code, Guid.NewGuid().ToString());
        (await CountsAsync(code)).ShouldBe((1, 1, 2));
    }

    [Fact]
    public async Task A_completed_checkout_marks_its_redemption_redeemed_by_the_id_in_its_metadata()
    {
        var code = await CreateCouponAsync(maxRedemptions: 3);
        var hold = await HoldAsync(code, Guid.NewGuid().ToString());
        var now = App.Time.GetUtcNow();
        var session = new Dictionary<string, object?>
        {
            ["id"] = "cs_test_" + Guid.NewGuid().ToString("N"), ["object"] = "checkout.session", ["status"] = "complete",
            ["metadata"] = new Dictionary<string, object?> { [CouponRedemptions.SessionMetadataKey] = hold.RedemptionId },
        };

        (await App.CreateClient().SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "checkout.session.completed", session, now, now)))
            .StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = hold.RedemptionId })).ShouldBe(RedemptionState.Redeemed);
        (await CountsAsync(code)).ShouldBe((1, 1, 1));
    }

    [Fact]
    public async Task Inactive_expired_unknown_and_first_time_only_coupons_are_refused_and_change_nothing()
    {
        var organizationId = Guid.NewGuid().ToString();
        (await Should.ThrowAsync<ProblemException>(() => HoldAsync("NOPE" + Guid.NewGuid().ToString("N")[..6], organizationId))).Status.ShouldBe(404);

        var inactive = await CreateCouponAsync();
        (await App.AdminClient().PatchAsJsonAsync($"/v1/admin/coupons/{inactive}", new { active = false })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await Should.ThrowAsync<ProblemException>(() => HoldAsync(inactive, organizationId))).Code.ShouldBe("coupon_inactive");

        var expired = await CreateCouponAsync(expiresAt: App.Time.GetUtcNow().AddHours(1));
        App.Time.Advance(TimeSpan.FromHours(2));
        (await Should.ThrowAsync<ProblemException>(() => HoldAsync(expired, organizationId))).Code.ShouldBe("coupon_expired");

        var firstTime = await CreateCouponAsync(firstTimeOnly: true);
        var organization = await App.CreateOrganizationAsync();
        await App.PlantPlanAsync("pro-" + Guid.NewGuid().ToString("N")[..8], new Dictionary<string, long>(), "price_" + Guid.NewGuid().ToString("N")[..10]);
        await App.PlantSubscriptionAsync(organization.Id, "free", "canceled", "sub_" + Guid.NewGuid().ToString("N"));
        (await Should.ThrowAsync<ProblemException>(() => HoldAsync(firstTime, organization.Id))).Code.ShouldBe("coupon_first_time_only");
        (await HoldAsync(firstTime, Guid.NewGuid().ToString())).CouponCode.ShouldBe(firstTime);

        foreach (var code in new[] { inactive, expired })
            (await CountsAsync(code)).ShouldBe((0, 0, 0));
        (await CountsAsync(firstTime)).ShouldBe((1, 1, 1));
    }

    [Fact]
    public async Task A_redeemed_coupon_survives_delete_as_inactive_and_one_never_redeemed_is_deleted()
    {
        var redeemed = await CreateCouponAsync(maxRedemptions: 10);
        await HoldAsync(redeemed, Guid.NewGuid().ToString());
        var unused = await CreateCouponAsync();
        var admin = App.AdminClient();

        (await admin.DeleteAsync($"/v1/admin/coupons/{redeemed}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await admin.DeleteAsync($"/v1/admin/coupons/{unused}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var kept = await (await admin.GetAsync($"/v1/admin/coupons/{redeemed}")).JsonAsync();
        kept.GetProperty("active").GetBoolean().ShouldBeFalse();
        kept.GetProperty("timesRedeemed").GetInt32().ShouldBe(1);
        await (await admin.GetAsync($"/v1/admin/coupons/{unused}")).ShouldBeProblemAsync(404, "not_found");
        await (await admin.DeleteAsync($"/v1/admin/coupons/{unused}")).ShouldBeProblemAsync(404, "not_found");
        (await App.SqlScalarAsync<long>("select count(*) from audit_log where target_type = 'coupon' and target_id = @redeemed and action = 'coupon.deactivate'", new { redeemed })).ShouldBe(1);
        (await App.SqlScalarAsync<long>("select count(*) from audit_log where target_type = 'coupon' and target_id = @unused and action in ('coupon.create', 'coupon.delete')", new { unused })).ShouldBe(2);
    }

    [Fact]
    public async Task The_recount_repairs_planted_drift_logs_and_audits_it_and_leaves_true_counts_alone()
    {
        var drifted = await CreateCouponAsync(maxRedemptions: 50);
        var exact = await CreateCouponAsync(maxRedemptions: 50);
        for (var i = 0; i < 3; i++) await HoldAsync(drifted, Guid.NewGuid().ToString());
        await HoldAsync(exact, Guid.NewGuid().ToString());
        var released = await HoldAsync(drifted, Guid.NewGuid().ToString());
        await App.Service<Db>().InTransactionAsync((c, tx) => App.Service<CouponRedemptions>().ReleaseAsync(c, tx, released.RedemptionId, CancellationToken.None));
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update coupons set times_redeemed = 42 where code = @drifted", new { drifted });

        var run = await App.Service<JobRunner>().RunAsync(CouponRecountJob.Id, CancellationToken.None);

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        (await CountsAsync(drifted)).ShouldBe((3, 3, 4));
        (await CountsAsync(exact)).ShouldBe((1, 1, 1));
        var changes = await App.SqlScalarAsync<string>("select changes from audit_log where action = 'coupon.recount' and target_id = @drifted", new { drifted });
        changes.ShouldContain("\"was\":42");
        (await App.SqlScalarAsync<long>("select count(*) from audit_log where action = 'coupon.recount' and target_id = @exact", new { exact })).ShouldBe(0);
    }

    [Fact]
    public async Task Plan_change_holds_left_behind_for_a_day_are_settled_by_what_the_subscription_shows()
    {
        var code = await CreateCouponAsync(maxRedemptions: 10);
        var target = "max-" + Guid.NewGuid().ToString("N")[..8];
        await App.PlantPlanAsync(target, new Dictionary<string, long>(), "price_" + target);
        var applied = await App.CreateOrganizationAsync();
        var appliedRow = await App.PlantSubscriptionAsync(applied.Id, target, "active", "sub_" + Guid.NewGuid().ToString("N"));
        var failed = await App.CreateOrganizationAsync();
        var failedRow = await App.PlantSubscriptionAsync(failed.Id, "free", "active", "sub_" + Guid.NewGuid().ToString("N"));
        var fresh = await App.CreateOrganizationAsync();
        var freshRow = await App.PlantSubscriptionAsync(fresh.Id, "free", "active", "sub_" + Guid.NewGuid().ToString("N"));
        var appliedHold = await HoldAsync(code, applied.Id, $"plan-change:{appliedRow}:{target}");
        var failedHold = await HoldAsync(code, failed.Id, $"plan-change:{failedRow}:{target}");
        App.Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        var freshHold = await HoldAsync(code, fresh.Id, $"plan-change:{freshRow}:{target}");

        await App.Service<JobRunner>().RunAsync(CouponRecountJob.Id, CancellationToken.None);

        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = appliedHold.RedemptionId })).ShouldBe(RedemptionState.Redeemed);
        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = failedHold.RedemptionId })).ShouldBe(RedemptionState.Released);
        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = freshHold.RedemptionId })).ShouldBe(RedemptionState.Held);
        (await CountsAsync(code)).ShouldBe((2, 2, 3));
    }

    [Fact]
    public async Task The_operator_api_creates_lists_updates_and_refuses_bad_input_with_problems()
    {
        var admin = App.AdminClient();
        var code = await CreateCouponAsync(maxRedemptions: 5);
        await (await admin.PostJsonAsync("/v1/admin/coupons", new { code = code.ToLowerInvariant(), amountOff = 500, currency = "eur", duration = "forever", stripeCouponId = "x" }))
            .ShouldBeProblemAsync(409, "coupon_exists");
        await (await admin.PostJsonAsync("/v1/admin/coupons", new { code = NewCode(), percentOff = 10, amountOff = 5, duration = "once", stripeCouponId = "x" }))
            .ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync("/v1/admin/coupons", new { code = "bad code!", percentOff = 10, duration = "sometimes", stripeCouponId = "x" }))
            .ShouldBeProblemAsync(400, "validation_failed");
        await (await App.ClientWithKey((await App.CreateTenantAsync("admin")).Key).GetAsync("/v1/admin/coupons")).ShouldBeProblemAsync(403, "forbidden");

        for (var i = 0; i < 2; i++) await HoldAsync(code, Guid.NewGuid().ToString());
        await (await admin.PatchAsJsonAsync($"/v1/admin/coupons/{code}", new { maxRedemptions = 1 })).ShouldBeProblemAsync(409, "max_redemptions_below_redeemed");
        var updated = await (await admin.PatchAsJsonAsync($"/v1/admin/coupons/{code}", new { maxRedemptions = 2, firstTimeOnly = true })).JsonAsync();
        updated.GetProperty("maxRedemptions").GetInt32().ShouldBe(2);
        updated.GetProperty("firstTimeOnly").GetBoolean().ShouldBeTrue();
        updated.GetProperty("percentOff").GetDouble().ShouldBe(20);
        (await HoldAsyncCode(code)).ShouldBe("coupon_exhausted");

        App.Time.Advance(TimeSpan.FromSeconds(1)); // ids are UUIDv7 of the (fake) clock: newest first needs a later millisecond
        var second = await CreateCouponAsync();
        var page = await (await admin.GetAsync("/v1/admin/coupons?limit=1")).JsonAsync();
        page.GetProperty("items").GetArrayLength().ShouldBe(1);
        page.GetProperty("items")[0].GetProperty("code").GetString().ShouldBe(second);
        var next = page.GetProperty("nextCursor").GetString()!;
        var rest = await (await admin.GetAsync($"/v1/admin/coupons?limit=100&cursor={next}")).JsonAsync();
        rest.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("code").GetString()).ShouldContain(code);
        (await App.SqlScalarAsync<long>("select count(*) from audit_log where action = 'coupon.update' and target_id = @code", new { code })).ShouldBe(1);
    }

    private async Task<string> HoldAsyncCode(string code)
    {
        try
        {
            await HoldAsync(code, Guid.NewGuid().ToString());
            return "held";
        }
        catch (ProblemException e)
        {
            return e.Code;
        }
    }
}

public sealed class CouponTestsOnSqlite(SqliteApp<PlansSetup> app) : CouponTests(app), IClassFixture<SqliteApp<PlansSetup>>;

public sealed class CouponTestsOnPostgres(PostgresApp<PlansSetup> app) : CouponTests(app), IClassFixture<PostgresApp<PlansSetup>>;

internal static class BillingTestSql
{
    public static async Task<T> SqlScalarAsync<T>(this BackstopFactory app, string sql, object? args = null)
    {
        await using var connection = await app.OpenAsync();
        return (await connection.ExecuteScalarAsync<T>(sql, args))!;
    }
}
