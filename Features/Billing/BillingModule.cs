using Backstop.Features.Billing.PlanChanges;

namespace Backstop.Features.Billing;

internal static class BillingModule
{
    /// <summary>Plans, subscriptions (Stripe, Paddle), dunning and grace, the access gate every slice calls, reconciliation.</summary>
    public static IServiceCollection AddBilling(this IServiceCollection services)
    {
        services.AddCheckedOptions<BillingOptions>(BillingOptions.Section);
        services.AddSingleton<IAccessGate, AccessGate>();
        services.AddSingleton<IOperatorAccess, AccessOverrides>(); // console-ops: grace extensions, suspension lifts
        services.AddSingleton<BillingEvents>();
        services.AddSingleton<IOrganizationPlans, OrganizationPlans>();
        services.AddSingleton<ISubscriptionOwnership, PayingSubscriptions>();
        services.AddBillingSubscriptions();
        services.AddBillingDunning();
        services.AddPlanChangesAndCoupons();
        return services;
    }
}
