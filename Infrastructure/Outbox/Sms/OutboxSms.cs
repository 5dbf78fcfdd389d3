using System.Threading.RateLimiting;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Infrastructure.Outbox.Sms;

internal static class OutboxSms
{
    public const string Channel = "sms";

    public static OutboxEnvelope Create(string idempotencyKey, string to, string body, string? reference = null, bool sensitive = false) =>
        OutboxEnvelope.Create(Channel, idempotencyKey, new SmsPayload(to, body), reference, sensitive);
}
