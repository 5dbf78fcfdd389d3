using System.Data.Common;
using Backstop.Infrastructure.Data;
using Dapper;
using Microsoft.Extensions.Options;

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
        var live = subscription is { Live: true };
        var code = live ? subscription!.PlanCode : options.Value.DefaultPlan;
        var plan = await BillingSql.FindPlanAsync(connection, transaction, code, ct);
        return new OrganizationPlan(
            organizationId,
            code,
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
