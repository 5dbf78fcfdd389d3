using FastEndpoints;

namespace Backstop.Features.Billing.Coupons;

/// <summary>
/// <c>DELETE /v1/admin/coupons/{code}</c>: a coupon never redeemed is deleted; one with any redemption row (held,
/// redeemed, or released by an expired checkout) is only deactivated, so its redemptions keep their coupon. 204 either way.
/// </summary>
internal sealed class DeleteCoupon(Db db, IAuditLog audit, TimeProvider time) : Endpoint<CouponCodeRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/coupons/{code}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Delete a coupon never redeemed; deactivate one that was.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(CouponCodeRequest req, CancellationToken ct)
    {
        var code = CouponSql.Normalize(req.Code);
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var now = time.GetUtcNow();
            // The delete decides in one statement; a redemption racing it either committed first (the delete skips
            // the coupon) or fails on the foreign key (restrict) and is refused.
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                """
                delete from coupons
                where code = @code and not exists (select 1 from coupon_redemptions r where r.coupon_id = coupons.id)
                """, new { code }, tx, cancellationToken: ct));
            if (deleted == 1)
            {
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.CouponDelete, "coupon", code), ct);
                return;
            }
            var deactivated = await connection.ExecuteAsync(new CommandDefinition(
                "update coupons set active = @no, updated_at = @now where code = @code",
                new { code, now, no = false }, tx, cancellationToken: ct));
            if (deactivated == 0) throw ProblemException.NotFound("Coupon " + code);
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.CouponDeactivate, "coupon", code, Changes: new { Active = false }), ct);
        }, ct);
        await Send.NoContentAsync(ct);
    }
}
