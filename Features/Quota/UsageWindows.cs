namespace Backstop.Features.Quota;

/// <summary>The reset windows a metric can declare (<c>usage_metrics.usage_window</c>).</summary>
internal static class UsageWindows
{
    public const string Month = "month";
    public const string BillingPeriod = "billing_period";
    public const string Day = "day";
    public const string Year = "year";
    public const string None = "none";

    public static readonly string[] All = [Month, BillingPeriod, Day, Year, None];
}
