namespace Backstop.Features.Billing.PlanChanges;

/// <summary>
/// Whether moving from one plan to another is an upgrade or a downgrade, decided by the plans' limits: a change that
/// lowers any limit is a downgrade (it waits for the end of the paid period and may cause violations); a change that
/// lowers none is an upgrade (it applies at once, prorated).
/// </summary>
/// <remarks>
/// Why limits rather than prices or a rank: what must not happen mid-period is a customer losing capacity they paid
/// for, and the limits are exactly that capacity; they are stored locally (no Stripe call, so the preview and the
/// decision cannot disagree with each other or fail with Stripe), they cannot go stale the way a hand-kept rank can
/// when an operator edits a plan, and they need no currency or interval conversion (a yearly price is not "more"
/// than a monthly one in any useful sense). A plan that both adds and removes capacity is a downgrade: nothing is
/// taken away before the period the customer paid for ends. Equal limits (e.g. a monthly plan to its yearly twin)
/// count as an upgrade: nothing is lost, Stripe prorates the price difference either way.
/// A metric a plan does not name, or names with -1, is unlimited.
/// </remarks>
internal static class PlanDirection
{
    public const string Upgrade = "upgrade";
    public const string Downgrade = "downgrade";

    public static string Of(IReadOnlyDictionary<string, long> from, IReadOnlyDictionary<string, long> to)
    {
        foreach (var metric in from.Keys.Union(to.Keys))
            if (Capacity(to, metric) < Capacity(from, metric)) return Downgrade;
        return Upgrade;
    }

    private static long Capacity(IReadOnlyDictionary<string, long> limits, string metric) =>
        limits.TryGetValue(metric, out var limit) && limit >= 0 ? limit : long.MaxValue;
}
