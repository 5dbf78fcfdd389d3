using FastEndpoints;

namespace Backstop.Features.Billing.Coupons;

internal sealed record CouponCodeRequest
{
    public string Code { get; init; } = "";
}

/// <summary><c>GET /v1/admin/coupons/{code}</c>.</summary>
internal sealed class GetCoupon(Db db) : Endpoint<CouponCodeRequest, CouponResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/coupons/{code}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "A coupon by its code, with how many times it was redeemed.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(CouponCodeRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = await CouponSql.FindAsync(connection, null, req.Code, ct) ?? throw ProblemException.NotFound("Coupon " + CouponSql.Normalize(req.Code));
        await Send.OkAsync(CouponResponse.From(row), ct);
    }
}
