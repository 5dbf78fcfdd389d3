namespace Backstop.Infrastructure.Outbox;

internal sealed class OutboxOptions : IValidatedOptions
{
    public const string Section = "Outbox";

    /// <summary>Whether this instance runs the background dispatcher (woken at enqueue, and polling). The sweep job runs regardless.</summary>
    public bool DispatcherEnabled { get; set; } = true;

    /// <summary>How often the dispatcher looks for due messages when nothing wakes it (real time).</summary>
    public int PollIntervalMilliseconds { get; set; } = 1000;

    /// <summary>Messages claimed per round.</summary>
    public int BatchSize { get; set; } = 20;

    /// <summary>Deliveries in flight at once on this instance (a window: a finished delivery's slot claims the next). 16: deliveries wait on the network, and an event endpoint may hold at most Events:MaxInFlightPerEndpoint (4) of them, so one that hangs never takes every slot.</summary>
    public int Parallelism { get; set; } = 16;

    /// <summary>Deliveries that have run past a second (an event endpoint that hangs until its timeout) leave the window of <see cref="Parallelism"/> for these slots of their own, so they never hold the slots the others need; 0: they keep their window slot.</summary>
    public int SlowSlots { get; set; } = 16;

    /// <summary>How long a claim holds a message; a crashed instance's messages are picked up again after it.</summary>
    public int LeaseSeconds { get; set; } = 120;

    /// <summary>Attempts (first try included) before a message goes <c>dead</c>, unless its channel says otherwise.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Delay before the first retry; each further retry doubles it (plus up to 20 % jitter).</summary>
    public double BaseDelaySeconds { get; set; } = 5;

    public double MaxDelaySeconds { get; set; } = 3600;

    /// <summary>Days that <c>sent</c> messages are kept (dead ones are kept until retried or removed by hand).</summary>
    public int RetentionDays { get; set; } = 7;

    /// <summary>Per-channel retry schedule. SMS: 3 retries at 1 s, 2 s, 4 s.</summary>
    public Dictionary<string, OutboxChannelOptions> Channels { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sms"] = new OutboxChannelOptions { MaxAttempts = 4, BaseDelaySeconds = 1 },
        // A stop is retried until a dispatched bot has joined (a waiting room can last hours): 20 attempts, up to the hourly cap.
        ["recall"] = new OutboxChannelOptions { MaxAttempts = 20 },
        // Outbound events: Svix's schedule, 8 attempts (the delays are the channel's own, EventChannel.Schedule).
        ["event"] = new OutboxChannelOptions { MaxAttempts = 8 },
    };

    public (int MaxAttempts, double BaseDelaySeconds) ScheduleFor(string channel) =>
        Channels.TryGetValue(channel, out var c)
            ? (c.MaxAttempts ?? MaxAttempts, c.BaseDelaySeconds ?? BaseDelaySeconds)
            : (MaxAttempts, BaseDelaySeconds);

    public IEnumerable<string> Validate()
    {
        if (PollIntervalMilliseconds is < 50 or > 600_000) yield return "Outbox:PollIntervalMilliseconds must be between 50 and 600000.";
        if (BatchSize is < 1 or > 1000) yield return "Outbox:BatchSize must be between 1 and 1000.";
        if (Parallelism is < 1 or > 64) yield return "Outbox:Parallelism must be between 1 and 64.";
        if (SlowSlots is < 0 or > 256) yield return "Outbox:SlowSlots must be between 0 and 256.";
        if (LeaseSeconds is < 5 or > 86400) yield return "Outbox:LeaseSeconds must be between 5 and 86400.";
        if (MaxAttempts is < 1 or > 100) yield return "Outbox:MaxAttempts must be between 1 and 100.";
        if (BaseDelaySeconds is <= 0 or > 86400) yield return "Outbox:BaseDelaySeconds must be greater than 0 and at most 86400.";
        if (MaxDelaySeconds < BaseDelaySeconds) yield return "Outbox:MaxDelaySeconds must not be less than Outbox:BaseDelaySeconds.";
        if (RetentionDays is < 1 or > 3650) yield return "Outbox:RetentionDays must be between 1 and 3650.";
        foreach (var (name, c) in Channels)
        {
            if (c.MaxAttempts is < 1 or > 100) yield return $"Outbox:Channels:{name}:MaxAttempts must be between 1 and 100.";
            if (c.BaseDelaySeconds is <= 0 or > 86400) yield return $"Outbox:Channels:{name}:BaseDelaySeconds must be greater than 0 and at most 86400.";
        }
    }
}
