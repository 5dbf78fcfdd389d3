namespace Backstop.Infrastructure.Audit;

/// <summary>Every action the log knows; a new mutation adds its action here (the admin filter accepts only these).</summary>
internal static class AuditActions
{
    public const string OrganizationCreate = "organization.create";
    public const string OrganizationUpdate = "organization.update";
    public const string OrganizationDelete = "organization.delete";
    public const string MemberAdd = "member.add";
    public const string MemberRemove = "member.remove";
    public const string ApiKeyCreate = "api_key.create";
    public const string ApiKeyRevoke = "api_key.revoke";
    public const string ApiKeyRotate = "api_key.rotate";
    public const string WebhookReplay = "webhook.replay";
    public const string OutboxRetry = "outbox.retry";
    public const string JobRun = "job.run";
    public const string SmsSettingsUpdate = "sms_settings.update";
    public const string SmsOptOut = "sms_consent.opt_out";
    /// <summary>An opt-in removes the number's opt-out row: a hard delete, audited like every hard delete.</summary>
    public const string SmsOptOutDelete = "sms_consent.opt_out_delete";
    public const string PlanCreate = "plan.create";
    public const string PlanUpdate = "plan.update";
    /// <summary>A plan without any subscription is deleted (a hard delete); one that has subscriptions is deactivated instead (<see cref="PlanUpdate"/>).</summary>
    public const string PlanDelete = "plan.delete";
    public const string SubscriptionCancel = "subscription.cancel";
    public const string SubscriptionResume = "subscription.resume";
    /// <summary>Reconciliation under <c>Billing:Reconcile = repair</c> took Stripe's values for a subscription.</summary>
    public const string SubscriptionRepair = "subscription.repair";
    public const string CouponCreate = "coupon.create";
    public const string CouponUpdate = "coupon.update";
    /// <summary>A coupon never redeemed is deleted; one that was is deactivated instead (<see cref="CouponDeactivate"/>).</summary>
    public const string CouponDelete = "coupon.delete";
    public const string CouponDeactivate = "coupon.deactivate";
    /// <summary>The <c>coupon-recount</c> job repaired a coupon's <c>times_redeemed</c>.</summary>
    public const string CouponRecount = "coupon.recount";
    public const string UsageMetricPut = "usage_metric.put";
    public const string UsageLimitSet = "usage.limit_set";
    public const string UsageReset = "usage.reset";
    // Quota: usage writes through the API (a consumption is not audited: see docs/quota.md)
    public const string UsageRelease = "usage.release";
    public const string UsageSet = "usage.set";
    // Billing (Stripe: plan changes, cancellation refused at Stripe).
    /// <summary>An upgrade applied at once (Stripe invoiced the proration and it was paid).</summary>
    public const string SubscriptionUpgrade = "subscription.upgrade";
    /// <summary>A downgrade scheduled at Stripe for the end of the period (or of the trial).</summary>
    public const string SubscriptionDowngradeSchedule = "subscription.downgrade_schedule";
    /// <summary>A scheduled downgrade cancelled (its schedule released), by request or replaced by an upgrade.</summary>
    public const string SubscriptionPlanChangeCancel = "subscription.plan_change_cancel";
    /// <summary>Stripe refused a cancel or resume for good: the local flag was put back to Stripe's, and alerted.</summary>
    public const string SubscriptionCancelRefused = "subscription.cancel_refused";
    // Billing lifecycle (billing branch): a checkout session opened for an organization.
    public const string SubscriptionCheckout = "subscription.checkout";

    // Abuse and tenancy (branch abuse): sends that spend the operator's provider money, dashboard commands, the admin key.
    /// <summary>An SMS queued by <c>POST /v1/sms</c>; the recipient masked in the changes.</summary>
    public const string SmsSend = "sms.send";
    /// <summary>A one-time code sent (<c>POST /v1/otp</c>); the recipient masked, never the code.</summary>
    public const string OtpSend = "otp.send";
    /// <summary>A command of the Hangfire dashboard (trigger, delete, requeue, remove…) that succeeded.</summary>
    public const string JobsDashboardCommand = "jobs_dashboard.command";
    /// <summary><c>backstop admin-key rotate</c> replaced the admin key.</summary>
    public const string AdminKeyRotate = "admin_key.rotate";

    // Bots: meetings and their recording bots.
    public const string MeetingCreate = "meeting.create";
    public const string MeetingUpdate = "meeting.update";
    public const string MeetingDelete = "meeting.delete";
    public const string BotStart = "bot.start";
    public const string BotStop = "bot.stop";

    // Events (API): event endpoints, replays and recoveries (docs/events.md)
    public const string EventEndpointCreate = "event_endpoint.create";
    public const string EventEndpointUpdate = "event_endpoint.update";
    /// <summary>A soft delete: the endpoint receives nothing more.</summary>
    public const string EventEndpointDelete = "event_endpoint.delete";
    /// <summary>A new signing secret; the previous one stays valid for 24 h (never a secret in the changes).</summary>
    public const string EventEndpointRotateSecret = "event_endpoint.rotate_secret";
    public const string EventEndpointEnable = "event_endpoint.enable";
    /// <summary>One event sent again to one endpoint.</summary>
    public const string EventReplay = "event.replay";
    public const string EventRecoveryCreate = "event_recovery.create";
    public const string EventRecoveryCancel = "event_recovery.cancel";

    // Events (delivery)
    /// <summary>An event endpoint disabled by the delivery after failing continuously for <c>Events:DisableAfterDays</c>.</summary>
    public const string EventEndpointDisable = "event_endpoint.disable";

    // Bots (bots4): the bot-pipeline-repair sweep moved a stuck meeting; a transcription requested again by the API.
    public const string MeetingRepair = "meeting.repair";
    public const string MeetingTranscribe = "meeting.transcribe";

    // Operator console (console-ui): operator keys, and console sessions (the actor is the operator key's name).
    public const string OperatorKeyCreate = "operator_key.create";
    public const string OperatorKeyRevoke = "operator_key.revoke";
    public const string ConsoleSignIn = "console.sign_in";
    public const string ConsoleSignOut = "console.sign_out";
    // Console (console-ops): bulk webhook replays and the operator's actions on an organization's access and usage.
    /// <summary>A bulk replay of stored webhook events started (its filter and the count it matched).</summary>
    public const string WebhookReplayCreate = "webhook_replay.create";
    public const string WebhookReplayCancel = "webhook_replay.cancel";
    /// <summary>An operator moved a past-due subscription's grace end.</summary>
    public const string SubscriptionGraceExtend = "subscription.grace_extend";
    /// <summary>An operator let a suspended organization in again for a number of days.</summary>
    public const string SubscriptionSuspensionLift = "subscription.suspension_lift";
    /// <summary>An operator resolved a reconciliation discrepancy by hand, with a note.</summary>
    public const string BillingDiscrepancyResolve = "billing_discrepancy.resolve";

    public static readonly IReadOnlyList<string> All =
    [
        OrganizationCreate, OrganizationUpdate, OrganizationDelete, MemberAdd, MemberRemove, ApiKeyCreate, ApiKeyRevoke,
        ApiKeyRotate, WebhookReplay, OutboxRetry, JobRun, SmsSettingsUpdate, SmsOptOut, SmsOptOutDelete,
        PlanCreate, PlanUpdate, PlanDelete, SubscriptionCancel, SubscriptionResume, SubscriptionRepair,
        CouponCreate, CouponUpdate, CouponDelete, CouponDeactivate, CouponRecount,
        UsageMetricPut, UsageLimitSet, UsageReset,
        UsageRelease, UsageSet,
        SubscriptionUpgrade, SubscriptionDowngradeSchedule, SubscriptionPlanChangeCancel, SubscriptionCancelRefused,
        SubscriptionCheckout,
        SmsSend, OtpSend, JobsDashboardCommand, AdminKeyRotate,
        MeetingCreate, MeetingUpdate, MeetingDelete, BotStart, BotStop,
        EventEndpointCreate, EventEndpointUpdate, EventEndpointDelete, EventEndpointRotateSecret, EventEndpointEnable, EventReplay, EventRecoveryCreate, EventRecoveryCancel,
        EventEndpointDisable,
        MeetingRepair, MeetingTranscribe,
        OperatorKeyCreate, OperatorKeyRevoke, ConsoleSignIn, ConsoleSignOut,
        WebhookReplayCreate, WebhookReplayCancel, SubscriptionGraceExtend, SubscriptionSuspensionLift, BillingDiscrepancyResolve,
    ];
}
