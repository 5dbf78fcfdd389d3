using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Quota;

internal static class QuotaModule
{
    /// <summary>Metrics, usage counted per billing period, limits from Billing's plans, renewals from Stripe and Paddle, reconciliation. Needs <c>AddBilling()</c>.</summary>
    public static IServiceCollection AddQuota(this IServiceCollection services)
    {
        services.AddCheckedOptions<QuotaOptions>(QuotaOptions.Section);
        services.AddSingleton<UsageNotices>();
        services.AddSingleton<UsageGroupCommit>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageGroupCommit>());
        services.AddSingleton<UsageScopes>();
        services.AddSingleton<UsageMeter>();
        services.AddSingleton<IUsageMeter>(sp => sp.GetRequiredService<UsageMeter>());
        services.AddSingleton<UsageResets>(); // the admin API's and the console's reset of a counter
        services.AddSingleton<IMetricCatalog, MetricCatalog>();
        services.AddSingleton<IUsagePeriods, UsagePeriods>();
        services.AddScoped<IWebhookHandler, StripeRenewalHandler>();
        services.AddScoped<IWebhookHandler, PaddleRenewalHandler>();
        services.AddRecurringJob<UsageReconciliationJob>();
        services.AddRecurringJob<UsageKeyRetentionJob>();
        // A deleted organization's usage: noted at the deletion, counted for its progress, deleted after the retention.
        services.AddSingleton<QuotaOrganizationData>();
        services.AddSingleton<Features.ApiKeys.IOrganizationDeletionListener>(sp => sp.GetRequiredService<QuotaOrganizationData>());
        services.AddSingleton<Features.ApiKeys.IOrganizationDataReport>(sp => sp.GetRequiredService<QuotaOrganizationData>());
        services.AddSingleton<IUsageRetention>(sp => sp.GetRequiredService<QuotaOrganizationData>());
        return services;
    }
}
