namespace Backstop.Infrastructure.Outbox;

internal sealed class OutboxChannelOptions
{
    public int? MaxAttempts { get; set; }
    public double? BaseDelaySeconds { get; set; }
}
