using Backstop.Features.Quota;
using Backstop.Infrastructure.Outbox.Sms;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Features.Messaging;

internal static class SmsStatus
{
    public const string Queued = "queued";
    public const string Sent = "sent";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}
