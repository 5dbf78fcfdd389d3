namespace Backstop.Features.Billing.Coupons;

internal static class CouponSql
{
    public const string Columns =
        """
        id, code, percent_off, amount_off, currency, duration, duration_in_months, stripe_coupon_id, max_redemptions,
        times_redeemed, expires_at, first_time_only, active, created_at, updated_at
        """;

    /// <summary>Codes are case-insensitive: stored and looked up upper-case.</summary>
    public static string Normalize(string code) => code.Trim().ToUpperInvariant();

    public static Task<CouponRow?> FindAsync(DbConnection connection, DbTransaction? tx, string code, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<CouponRow>(new CommandDefinition(
            $"select {Columns} from coupons where code = @code", new { code = Normalize(code) }, tx, cancellationToken: ct));
}
