namespace Backstop.Infrastructure.Events;

/// <summary>Outbound event delivery (<c>Events:</c>, docs/events.md). Validated at start.</summary>
internal sealed class EventsOptions : IValidatedOptions
{
    public const string Section = "Events";

    /// <summary>How long one delivery may take (connect, send, answer) before it counts as failed; Svix's is 15 s.</summary>
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>An endpoint whose deliveries have failed continuously this long is disabled (and its owners told).</summary>
    public int DisableAfterDays { get; set; } = 5;

    /// <summary>Deliveries to one endpoint that run at once on this instance; more wait (rescheduled shortly).</summary>
    public int MaxInFlightPerEndpoint { get; set; } = 4;

    /// <summary>Days the delivery log (<c>event_delivery_attempts</c>) keeps an attempt.</summary>
    public int AttemptRetentionDays { get; set; } = 30;

    /// <summary>Endpoint URLs may be <c>http</c> (else only <c>https</c>). For development.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>Deliveries may connect to loopback, private, link-local and metadata addresses. For development and tests only.</summary>
    public bool AllowPrivateTargets { get; set; }

    public IEnumerable<string> Validate()
    {
        if (TimeoutSeconds is < 1 or > 300) yield return "Events:TimeoutSeconds must be between 1 and 300.";
        if (DisableAfterDays is < 1 or > 365) yield return "Events:DisableAfterDays must be between 1 and 365.";
        if (MaxInFlightPerEndpoint is < 1 or > 64) yield return "Events:MaxInFlightPerEndpoint must be between 1 and 64.";
        if (AttemptRetentionDays is < 1 or > 3650) yield return "Events:AttemptRetentionDays must be between 1 and 3650.";
    }
}
