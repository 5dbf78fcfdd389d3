namespace Backstop.Features.Billing;

/// <summary>
/// The operator's actions on an organization's access (the admin API and the console call these): each is one
/// transaction with its audit row, and the access gate sees it at once.
/// </summary>
public interface IOperatorAccess
{
    /// <summary>
    /// Moves a past-due subscription's grace end to <paramref name="until"/> (later than the current end); a subscription
    /// the grace expiry suspended goes back to past due. Throws 404 (no such organization) or 409 (<c>not_past_due</c>,
    /// <c>grace_not_extended</c>) problems. Answers the access afterwards.
    /// </summary>
    Task<AccessStatus> ExtendGraceAsync(string organizationId, DateTimeOffset until, CancellationToken ct);

    /// <summary>
    /// Admits the organization for <paramref name="days"/> days from now whatever its payment state (not a pause),
    /// replacing an earlier lift. Throws 404 for an unknown organization. Answers the lift with the access afterwards.
    /// </summary>
    Task<SuspensionLift> LiftSuspensionAsync(string organizationId, int days, string reason, CancellationToken ct);
}

/// <param name="Until">The gate admits the organization until then, whatever its payment state.</param>
public sealed record SuspensionLift(string OrganizationId, DateTimeOffset Until, string Reason, AccessStatus Access);
