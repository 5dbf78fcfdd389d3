namespace Backstop.Features.Quota;

/// <summary>Backstop's own metrics, declared by the slice's migration.</summary>
internal static class BuiltInMetrics
{
    public const string Meetings = "meetings_per_month";
    public const string TeamMembers = "team_members";
    public const string StorageBytes = "storage_bytes";

    public const string Counter = "counter";
    public const string Gauge = "gauge";
}
