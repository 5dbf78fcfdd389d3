namespace Backstop.Infrastructure.Events;

public static class EventAttemptOutcome
{
    /// <summary>The endpoint answered 2xx.</summary>
    public const string Sent = "sent";
    /// <summary>Another answer (3xx included: redirects are not followed), a timeout or a transport error.</summary>
    public const string Failed = "failed";
    /// <summary>The endpoint's host resolved only to addresses deliveries may not connect to (counts as a failure).</summary>
    public const string Refused = "refused";
    /// <summary>Not sent: the endpoint was deleted or disabled when the message came up.</summary>
    public const string Skipped = "skipped";
}
