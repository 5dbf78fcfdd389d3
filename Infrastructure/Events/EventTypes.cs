namespace Backstop.Infrastructure.Events;

/// <summary>
/// The catalogue of outbound event types (<c>GET /v1/event-types</c>, docs/events.md). A slice emits only these
/// (<see cref="IEventPublisher.PublishAsync"/> refuses any other); a new event type is added here with its sentence.
/// </summary>
public static class EventTypes
{
    public const string MeetingCreated = "meeting.created";
    public const string MeetingBotStatusChanged = "meeting.bot_status_changed";
    public const string MeetingRecordingReady = "meeting.recording_ready";
    public const string MeetingTranscribed = "meeting.transcribed";
    public const string MeetingFailed = "meeting.failed";
    public const string MeetingDeleted = "meeting.deleted";
    public const string SubscriptionActivated = "subscription.activated";
    public const string SubscriptionPlanChanged = "subscription.plan_changed";
    public const string SubscriptionDowngradeScheduled = "subscription.downgrade_scheduled";
    public const string SubscriptionPastDue = "subscription.past_due";
    public const string SubscriptionSuspended = "subscription.suspended";
    public const string SubscriptionCanceled = "subscription.canceled";
    public const string SubscriptionResumed = "subscription.resumed";
    public const string BillingDisputeOpened = "billing.dispute_opened";
    public const string BillingDisputeClosed = "billing.dispute_closed";
    public const string BillingViolationsChanged = "billing.violations_changed";
    public const string UsageThresholdReached = "usage.threshold_reached";
    public const string UsageLimitReached = "usage.limit_reached";
    public const string ApiKeyCreated = "api_key.created";
    public const string ApiKeyRevoked = "api_key.revoked";
    public const string ApiKeyRotated = "api_key.rotated";
    public const string SmsDelivered = "sms.delivered";
    public const string SmsFailed = "sms.failed";
    public const string SmsOptedOut = "sms.opted_out";
    public const string SmsOptedIn = "sms.opted_in";
    public const string OrganizationCreated = "organization.created";
    public const string OrganizationDeleted = "organization.deleted";
    public const string InboxEventDead = "inbox.event_dead";
    public const string EndpointDisabled = "endpoint.disabled";

    /// <summary>Every type with the sentence the catalogue shows for it.</summary>
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [MeetingCreated] = "A meeting was created (with or without a bot).",
        [MeetingBotStatusChanged] = "A meeting's bot moved: joining, in_call, recording or left.",
        [MeetingRecordingReady] = "A meeting's recording was copied to storage and can be downloaded.",
        [MeetingTranscribed] = "A meeting's transcript was saved.",
        [MeetingFailed] = "A meeting failed; data.failureReason says why.",
        [MeetingDeleted] = "A meeting was deleted.",
        [SubscriptionActivated] = "A subscription became active (a checkout completed or a trial started).",
        [SubscriptionPlanChanged] = "A subscription's plan changed (an upgrade applied, or a scheduled downgrade took effect).",
        [SubscriptionDowngradeScheduled] = "A downgrade was scheduled for the end of the period.",
        [SubscriptionPastDue] = "A payment failed: the subscription is past due and its grace period runs.",
        [SubscriptionSuspended] = "The grace period ended unpaid: gated actions are blocked.",
        [SubscriptionCanceled] = "A subscription was cancelled (at the period end, or ended).",
        [SubscriptionResumed] = "A cancellation was undone, or a past-due or suspended subscription was paid.",
        [BillingDisputeOpened] = "A customer disputed a payment.",
        [BillingDisputeClosed] = "A payment dispute was closed (won or lost).",
        [BillingViolationsChanged] = "The organization's plan violations changed (after a downgrade, or cleared by an upgrade).",
        [UsageThresholdReached] = "A metric's usage crossed one of the notice thresholds of its limit.",
        [UsageLimitReached] = "A metric's usage reached its limit: further consumption is refused.",
        [ApiKeyCreated] = "An API key was created.",
        [ApiKeyRevoked] = "An API key was revoked.",
        [ApiKeyRotated] = "An API key was rotated (a new key replaces it).",
        [SmsDelivered] = "Twilio reported an SMS delivered.",
        [SmsFailed] = "An SMS could not be delivered.",
        [SmsOptedOut] = "A recipient opted out of SMS (STOP).",
        [SmsOptedIn] = "A recipient opted back in to SMS (START).",
        [OrganizationCreated] = "An organization was created.",
        [OrganizationDeleted] = "An organization was deleted.",
        [InboxEventDead] = "An inbound provider event exhausted its retries (operator endpoints only).",
        [EndpointDisabled] = "An event endpoint was disabled after failing continuously.",
    };

    /// <summary>Whether <paramref name="type"/> passes <paramref name="filter"/>: null or empty passes all; an entry is an exact type or a <c>prefix.*</c>.</summary>
    public static bool Matches(IReadOnlyCollection<string>? filter, string type)
    {
        if (filter is null || filter.Count == 0) return true;
        foreach (var entry in filter)
        {
            if (entry == "*") return true;
            if (entry.EndsWith(".*", StringComparison.Ordinal)
                ? type.StartsWith(entry[..^1], StringComparison.Ordinal)
                : string.Equals(entry, type, StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    /// <summary>Whether a filter entry names something in the catalogue: a known type, a prefix of one (<c>meeting.*</c>) or <c>*</c>.</summary>
    public static bool IsValidFilter(string entry) =>
        entry == "*" || All.ContainsKey(entry)
        || (entry.EndsWith(".*", StringComparison.Ordinal) && entry.Length > 2 && All.Keys.Any(k => k.StartsWith(entry[..^1], StringComparison.Ordinal)));
}
