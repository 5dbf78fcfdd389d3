using Backstop.Features.Billing.Coupons;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Billing.PlanChanges;

internal static class PlanChangesModule
{
    /// <summary>Plan changes (upgrade at once, downgrade at period end), plan violations and coupons. Called by <c>AddBilling()</c>.</summary>
    public static IServiceCollection AddPlanChangesAndCoupons(this IServiceCollection services)
    {
        services.AddSingleton<CouponRedemptions>();
        services.AddSingleton<PlanViolations>();
        services.AddSingleton<PlanChanger>();
        services.AddScoped<IWebhookHandler, CheckoutCouponHandler>();
        services.AddScoped<IWebhookHandler, DowngradeAppliedHandler>();
        services.AddRecurringJob<CouponRecountJob>();
        services.AddRecurringJob<ViolationsCheckJob>();
        services.AddRecurringJob<StorageGraceJob>();
        services.AddRecurringJob<PlanChangeClaimSweep>();
        return services;
    }
}
