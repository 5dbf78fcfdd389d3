using System.Data;
using System.Text;

namespace Backstop.Infrastructure.Events;

internal static class EventRecoveryStatus
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Cancelled = "cancelled";
}
