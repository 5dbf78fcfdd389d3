namespace Backstop.Features.Billing.Subscriptions;

/// <summary>A row of <c>billing_checkouts</c>: the organization's checkout in flight.</summary>
internal sealed record CheckoutRow
{
    public string OrganizationId { get; init; } = "";
    public string SessionKey { get; init; } = "";
    public string PlanCode { get; init; } = "";
    public int? TrialDays { get; init; }
    public string? SessionId { get; init; }
    public string? Url { get; init; }
    public string Status { get; init; } = "";
    public DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>
/// At most one checkout in flight per organization, and none while it has a live subscription: the claim is one
/// conditional upsert on <c>billing_checkouts</c> (primary key: the organization) made before Stripe is called, so of
/// twenty concurrent checkouts one opens a session and the others are told about it. Deleting the organization and
/// opening a checkout are exclusive on the same row: the deletion marks it <see cref="Deleted"/> (inserting it if
/// need be) after locking it, a claim never takes a <see cref="Deleted"/> row nor claims for a deleted organization, and
/// a session is recorded only over its own <see cref="Creating"/> claim — so a session Stripe created for a claim the
/// deletion ended is expired at Stripe by the checkout itself, and no open checkout survives a deleted organization.
/// </summary>
internal static class CheckoutSessions
{
    public const string Creating = "creating";
    public const string Open = "open";
    public const string Completed = "completed";
    public const string Expired = "expired";
    public const string Failed = "failed";

    /// <summary>The organization was deleted: the row is never claimed again.</summary>
    public const string Deleted = "deleted";

    /// <summary>How long a claim without a session blocks other checkouts (a process that died between claim and session).</summary>
    public static readonly TimeSpan ClaimLifetime = TimeSpan.FromMinutes(10);

    /// <summary>Stripe's default session lifetime, when the session's own <c>expires_at</c> is missing.</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(24);

    private const string Columns = "organization_id, session_key, plan_code, trial_days, session_id, url, status, expires_at";

    /// <summary>
    /// Claims the organization's checkout for <paramref name="sessionKey"/>; null when a live subscription or another
    /// checkout in flight holds it, else how many claims the organization's row had before (0 for its first). The
    /// count goes into Stripe's idempotency key, so that the same request after its session expired opens a new session
    /// instead of getting the expired one replayed for Stripe's 24 hours.
    /// </summary>
    public static async Task<int?> ClaimAsync(DbConnection c, string organizationId, string sessionKey, string planCode, DateTimeOffset now, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(
            """
            insert into billing_checkouts (organization_id, session_key, plan_code, status, expires_at, created_at, updated_at)
            select @organizationId, @sessionKey, @planCode, 'creating', @claimUntil, @now, @now
            where not exists (select 1 from subscriptions
                              where organization_id = @organizationId and status in ('trialing', 'active', 'past_due', 'suspended', 'unpaid', 'paused'))
              and not exists (select 1 from billing_deleted_organizations where organization_id = @organizationId)
            on conflict (organization_id) do update
                set session_key = excluded.session_key, plan_code = excluded.plan_code, trial_days = null, session_id = null, url = null,
                    status = 'creating', expires_at = excluded.expires_at, updated_at = excluded.updated_at, claims = billing_checkouts.claims + 1
                where billing_checkouts.status <> 'deleted' and (billing_checkouts.status not in ('creating', 'open') or billing_checkouts.expires_at <= @now)
            returning claims
            """, new { organizationId, sessionKey, planCode, claimUntil = now + ClaimLifetime, now }, cancellationToken: ct));

    public static Task<CheckoutRow?> FindAsync(DbConnection c, DbTransaction? tx, string organizationId, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<CheckoutRow>(new CommandDefinition(
            $"select {Columns} from billing_checkouts where organization_id = @organizationId", new { organizationId }, tx, cancellationToken: ct));

    /// <summary>Records the session Stripe created under the claim; 0 when the claim is no longer this one's (taken over after its lifetime, or ended by the organization's deletion).</summary>
    public static Task<int> RecordSessionAsync(DbConnection c, DbTransaction tx, string organizationId, string sessionKey, string sessionId, string url,
        int? trialDays, DateTimeOffset expiresAt, DateTimeOffset now, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(
            """
            update billing_checkouts set session_id = @sessionId, url = @url, trial_days = @trialDays, status = 'open', expires_at = @expiresAt, updated_at = @now
            where organization_id = @organizationId and session_key = @sessionKey and status = 'creating'
            """, new { organizationId, sessionKey, sessionId, url, trialDays, expiresAt, now }, tx, cancellationToken: ct));

    /// <summary>
    /// Gives the claim back when no session was created: the row becomes <c>failed</c> (no longer blocking), and keeps
    /// its claim count, so the next attempt sends Stripe a new idempotency key (Stripe replays a stored 500 under the old
    /// one for 24 hours).
    /// </summary>
    public static Task<int> AbandonAsync(DbConnection c, DbTransaction? tx, string organizationId, string sessionKey, DateTimeOffset now, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(
            "update billing_checkouts set status = 'failed', updated_at = @now where organization_id = @organizationId and session_key = @sessionKey and status = 'creating'",
            new { organizationId, sessionKey, now }, tx, cancellationToken: ct));

    /// <summary>The session completed or expired (Stripe's events): the organization's checkout is no longer in flight.</summary>
    public static Task<int> CloseAsync(DbConnection c, DbTransaction tx, string? sessionId, string status, DateTimeOffset now, CancellationToken ct) =>
        sessionId is null
            ? Task.FromResult(0)
            : c.ExecuteAsync(new CommandDefinition(
                "update billing_checkouts set status = @status, updated_at = @now where session_id = @sessionId and status in ('creating', 'open')",
                new { sessionId, status, now }, tx, cancellationToken: ct));

    /// <summary>
    /// In the deletion's transaction: locks the organization's row (PostgreSQL; SQLite's writer lock is held), marks it
    /// <see cref="Deleted"/> — inserting it when the organization never had one, so a claim racing the deletion meets the
    /// row — and answers the session that was open, to expire at Stripe.
    /// </summary>
    public static async Task<string?> EndForDeletedOrganizationAsync(DbConnection c, DbTransaction tx, Dialect dialect, string organizationId, DateTimeOffset now, CancellationToken ct)
    {
        var before = await c.QuerySingleOrDefaultAsync<CheckoutRow>(new CommandDefinition(
            $"select {Columns} from billing_checkouts where organization_id = @organizationId {dialect.ForUpdate()}",
            new { organizationId }, tx, cancellationToken: ct));
        await c.ExecuteAsync(new CommandDefinition(
            """
            insert into billing_checkouts (organization_id, session_key, plan_code, status, expires_at, created_at, updated_at)
            values (@organizationId, '', '', 'deleted', @now, @now, @now)
            on conflict (organization_id) do update set status = 'deleted', updated_at = excluded.updated_at
            """, new { organizationId, now }, tx, cancellationToken: ct));
        return before is { Status: Open, SessionId: { } sessionId } && before.ExpiresAt > now ? sessionId : null;
    }
}
