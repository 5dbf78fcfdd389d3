using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;

// In the slice's namespace, so BillingModule registers it with one line.
namespace Backstop.Features.Billing;

internal static class DunningModule
{
    /// <summary>Dunning (failed, paid and to-be-confirmed invoices), the grace expiry job and disputes.</summary>
    public static IServiceCollection AddBillingDunning(this IServiceCollection services)
    {
        services.AddScoped<BillingNotices>();
        services.AddScoped<IWebhookHandler, InvoicePaymentFailed>();
        services.AddScoped<IWebhookHandler, InvoicePaid>();
        services.AddScoped<IWebhookHandler, InvoiceSettled>();
        services.AddScoped<IWebhookHandler, InvoicePaymentActionRequired>();
        services.AddScoped<IWebhookHandler, DisputeEvents>();
        services.AddSingleton<IOutboxChannel, DisputeLookupChannel>();
        services.AddRecurringJob<GraceExpiryJob>();
        return services;
    }
}
