namespace Backstop.Infrastructure.Data;

internal static class Ids
{
    /// <summary>A UUIDv7 as text: unique, and sortable by creation time.</summary>
    public static string New(TimeProvider time) => Guid.CreateVersion7(time.GetUtcNow()).ToString();
}
