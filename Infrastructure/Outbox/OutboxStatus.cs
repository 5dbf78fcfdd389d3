namespace Backstop.Infrastructure.Outbox;

internal static class OutboxStatus
{
    public const string Pending = "pending";
    public const string Sending = "sending";
    public const string Sent = "sent";
    public const string Dead = "dead";
}
