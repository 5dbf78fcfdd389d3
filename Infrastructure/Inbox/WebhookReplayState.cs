using System.Text;

namespace Backstop.Infrastructure.Inbox;

internal static class WebhookReplayState
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Cancelled = "cancelled";
}
