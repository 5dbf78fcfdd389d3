using System.Threading.RateLimiting;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Infrastructure.Outbox.Sms;

/// <summary>
/// Asked right before an SMS leaves, so that what changed after it was queued (the recipient replied STOP, the
/// organization disabled SMS) still stops it. A reason refuses the message permanently; null lets it go.
/// </summary>
internal interface ISmsSendGuard
{
    Task<string?> RefusalAsync(OutboxMessage message, SmsPayload payload, CancellationToken ct);
}
