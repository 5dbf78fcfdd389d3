using Backstop.Features.ApiKeys;
using Backstop.Features.Billing.Plans;
using Backstop.Features.Billing.Reconciliation;
using Backstop.Features.Billing.Subscriptions;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Billing;

internal static class SubscriptionsModule
{
    /// <summary>Plans (operator API), checkout, the subscription state from Stripe's and Paddle's events, cancel/resume through the <c>stripe</c> outbox channel, organization deletion, reconciliation.</summary>
    public static IServiceCollection AddBillingSubscriptions(this IServiceCollection services)
    {
        services.AddSingleton<PlanStore>();
        services.AddSingleton<StripeCustomers>();
        services.AddSingleton<SubscriptionChanges>();
        services.AddSingleton<IOutboxChannel, StripeChannel>();
        services.AddSingleton<IOutboxChannel, StripeCheckoutChannel>();
        services.AddSingleton<IOutboxListener, StripeCallFailures>();
        services.AddSingleton<IOutboxChannel, PaddleChannel>();
        services.AddSingleton<IOutboxListener, PaddleCallFailures>();
        services.AddSingleton<IOrganizationDeletionListener, OrganizationDeletion>();
        services.AddSingleton<IOrganizationDataReport, BillingOrganizationData>();
        services.AddScoped<IWebhookHandler, StripeSubscriptionHandler>();
        services.AddScoped<IWebhookHandler, StripeCheckoutCompletedHandler>();
        services.AddScoped<IWebhookHandler, PaddleSubscriptionHandler>();
        services.AddScoped<IWebhookHandler, StripeCheckoutExpiredHandler>();
        services.AddScoped<SubscriptionOwnership>();
        services.AddSingleton<PaddleCheckoutReferences>();
        services.AddScoped<Reconciliation.Discrepancies>();
        services.AddScoped<PlanChanges.PlanInForce>();
        services.AddRecurringJob<ReconciliationJob>();
        return services;
    }
}
