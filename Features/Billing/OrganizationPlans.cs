namespace Backstop.Features.Billing;

internal sealed class OrganizationPlans(Db db, IOptions<BillingOptions> options) : IOrganizationPlans
{
    public async Task<OrganizationPlan> GetAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await GetAsync(connection, null, organizationId, ct);
    }

    public async Task<OrganizationPlan> GetAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct)
    {
        var subscription = await BillingSql.FindSubscriptionAsync(connection, transaction, organizationId, ct);
        var plan = await BillingSql.FindPlanAsync(connection, transaction, PlanCodeOf(subscription), ct);
        return Compose(organizationId, subscription, plan);
    }

    public async Task<IReadOnlyDictionary<string, OrganizationPlan>> GetManyAsync(DbConnection connection, DbTransaction? transaction,
        IReadOnlyCollection<string> organizationIds, CancellationToken ct)
    {
        var ids = organizationIds.Distinct(StringComparer.Ordinal).ToArray();
        var result = new Dictionary<string, OrganizationPlan>(ids.Length, StringComparer.Ordinal);
        if (ids.Length == 0) return result;
        var subscriptions = await BillingSql.FindSubscriptionsAsync(connection, transaction, ids, ct);
        var codes = ids.Select(id => PlanCodeOf(subscriptions.GetValueOrDefault(id))).Distinct(StringComparer.Ordinal).ToArray();
        var plans = await BillingSql.FindPlansAsync(connection, transaction, codes, ct);
        foreach (var id in ids)
        {
            var subscription = subscriptions.GetValueOrDefault(id);
            result[id] = Compose(id, subscription, plans.GetValueOrDefault(PlanCodeOf(subscription)));
        }
        return result;
    }

    /// <summary>The plan in force: a live subscription's, else the default plan.</summary>
    private string PlanCodeOf(SubscriptionRow? subscription) => subscription is { Live: true } ? subscription.PlanCode : options.Value.DefaultPlan;

    private OrganizationPlan Compose(string organizationId, SubscriptionRow? subscription, PlanRow? plan)
    {
        var live = subscription is { Live: true };
        return new OrganizationPlan(
            organizationId,
            PlanCodeOf(subscription),
            plan?.LimitMap() ?? new Dictionary<string, long>(),
            subscription?.Status,
            live ? subscription!.CurrentPeriodStart : null,
            live ? subscription!.CurrentPeriodEnd : null);
    }

    public async Task<bool> AnyPlanLimitsAsync(string metric, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var all = await connection.QueryAsync<string>(new CommandDefinition("select limits from plans", cancellationToken: ct));
        return all.Any(limits => new PlanRow { Limits = limits }.LimitMap().ContainsKey(metric));
    }
}
