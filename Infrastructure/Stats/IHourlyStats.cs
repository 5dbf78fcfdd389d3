using System.Globalization;
using System.Text;

namespace Backstop.Infrastructure.Stats;

/// <summary>Reads the hourly counts (the console's overview charts and <c>GET /v1/admin/stats/hourly</c>).</summary>
public interface IHourlyStats
{
    /// <summary>Every non-zero count of the hours from the one holding <paramref name="since"/> to the current one, oldest first.</summary>
    Task<IReadOnlyList<HourlyCount>> ReadAsync(DateTimeOffset since, CancellationToken ct);
}
