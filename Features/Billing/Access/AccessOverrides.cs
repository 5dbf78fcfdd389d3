using Backstop.Features.ApiKeys;

namespace Backstop.Features.Billing;

/// <summary>
/// The operator's actions on access: grace extensions (on <c>subscriptions</c>) and lifts of a suspension
/// (<c>access_overrides</c>, which the gate reads through <see cref="LiftedUntilAsync"/>).
/// </summary>
internal sealed class AccessOverrides(Db db, IOrganizationDirectory organizations, IAccessGate gate, BillingEvents billingEvents, IAuditLog audit, TimeProvider time)
    : IOperatorAccess
{
    public const int MaxDays = 90;

    /// <summary>The end of the organization's lift when it has not ended at <paramref name="now"/>, else null.</summary>
    public static Task<DateTimeOffset?> LiftedUntilAsync(DbConnection connection, DbTransaction? tx, string organizationId, DateTimeOffset now, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<DateTimeOffset?>(new CommandDefinition(
            "select until from access_overrides where organization_id = @organizationId and until > @now",
            new { organizationId, now }, tx, cancellationToken: ct));

    /// <summary>As <see cref="LiftedUntilAsync(DbConnection, DbTransaction?, string, DateTimeOffset, CancellationToken)"/> for many organizations, in one read: those with a lift that has not ended.</summary>
    public static async Task<IReadOnlyList<(string OrganizationId, DateTimeOffset Until)>> LiftedUntilAsync(DbConnection connection, DbTransaction? tx,
        IReadOnlyCollection<string> organizationIds, DateTimeOffset now, CancellationToken ct) =>
        (await connection.QueryAsync<LiftRow>(new CommandDefinition(
            $"select organization_id, until from access_overrides where {DialectSql.Of(connection).AnyOf("organization_id", "ids")} and until > @now",
            new { ids = organizationIds.ToArray(), now }, tx, cancellationToken: ct))).Select(r => (r.OrganizationId, r.Until)).ToList();

    private sealed record LiftRow
    {
        public string OrganizationId { get; init; } = "";
        public DateTimeOffset Until { get; init; }
    }

    public Task<AccessStatus> ExtendGraceAsync(string organizationId, DateTimeOffset until, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return db.InTransactionAsync(async (connection, tx) =>
        {
            if (!await organizations.ExistsAsync(connection, organizationId, ct)) throw ProblemException.NotFound($"Organization '{organizationId}'");
            var before = await billingEvents.BeforeAsync(connection, tx, organizationId, ct);
            // The conditional update decides: a payment or another extension that commits first changes what it matches.
            var moved = await connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set status = 'past_due', grace_ends_at = @until, updated_at = @now
                where organization_id = @organizationId and status in ('past_due', 'suspended') and (grace_ends_at is null or grace_ends_at < @until)
                """, new { organizationId, until, now }, tx, cancellationToken: ct));
            if (moved == 0)
                throw before is { Status: SubscriptionStatus.PastDue or SubscriptionStatus.Suspended }
                    ? new ProblemException(409, "grace_not_extended", $"The grace period already ends at {before.GraceEndsAt:O}, not before {until:O}.")
                    : new ProblemException(409, "not_past_due", $"The organization's subscription is {before?.Status ?? "none"}: only a past-due or suspended one has a grace period.");
            await billingEvents.AfterAsync(connection, tx, organizationId, before, ct);
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionGraceExtend, "subscription", before!.Id, organizationId,
                new { status = new { from = before.Status, to = SubscriptionStatus.PastDue }, graceEndsAt = new { from = before.GraceEndsAt, to = until } }), ct);
            return await gate.GetAsync(connection, tx, organizationId, ct);
        }, ct);
    }

    public Task<SuspensionLift> LiftSuspensionAsync(string organizationId, int days, string reason, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var until = now.AddDays(days);
        return db.InTransactionAsync(async (connection, tx) =>
        {
            if (!await organizations.ExistsAsync(connection, organizationId, ct)) throw ProblemException.NotFound($"Organization '{organizationId}'");
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into access_overrides (organization_id, until, reason, created_at, updated_at)
                values (@organizationId, @until, @reason, @now, @now)
                on conflict (organization_id) do update set until = excluded.until, reason = excluded.reason, updated_at = excluded.updated_at
                """, new { organizationId, until, reason, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionSuspensionLift, "organization", organizationId, organizationId,
                new { days, until, reason }), ct);
            return new SuspensionLift(organizationId, until, reason, await gate.GetAsync(connection, tx, organizationId, ct));
        }, ct);
    }
}
