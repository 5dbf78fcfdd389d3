using FastEndpoints;

namespace Backstop.Features.Billing.Coupons;

internal sealed record ListCouponsRequest : PageRequest
{
    /// <summary>Only active (true) or inactive (false) coupons.</summary>
    [QueryParam] public bool? Active { get; init; }
}

/// <summary><c>GET /v1/admin/coupons</c>: newest first, paginated.</summary>
internal sealed class ListCoupons(Db db) : Endpoint<ListCouponsRequest, Page<CouponResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/coupons");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List coupons (newest first, paginated; ?active=true|false).");
    }

    public sealed class Validator : Validator<ListCouponsRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListCouponsRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var page = await connection.PageAsync<CouponRow>($"select {CouponSql.Columns} from coupons",
            "@active is null or active = @active", new { active = req.Active }, req, r => r.Id, ct);
        await Send.OkAsync(page.Map(CouponResponse.From), ct);
    }
}
