using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using Backstop.Features.ApiKeys;
using Backstop.Features.Billing;
using Backstop.Features.Billing.PlanChanges;
using Backstop.Features.Billing.Subscriptions;
using Backstop.Features.Bots;
using Backstop.Features.Messaging;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Inbox;
using FastEndpoints;
using NJsonSchema;
using NSwag.Generation.Processors;
using NSwag.Generation.Processors.Contexts;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// The CLR type each event type's <c>data</c> is serialised from: the one place the catalogue's schemas come from,
/// both the ones <c>GET /v1/event-types</c> answers and the ones in the OpenAPI document.
/// </summary>
internal static class EventDataTypes
{
    public static readonly IReadOnlyDictionary<string, Type> All = new Dictionary<string, Type>(StringComparer.Ordinal)
    {
        [EventTypes.MeetingCreated] = typeof(MeetingResponse),
        [EventTypes.MeetingBotStatusChanged] = typeof(MeetingResponse),
        [EventTypes.MeetingRecordingReady] = typeof(MeetingResponse),
        [EventTypes.MeetingTranscribed] = typeof(MeetingResponse),
        [EventTypes.MeetingFailed] = typeof(MeetingResponse),
        [EventTypes.MeetingDeleted] = typeof(MeetingResponse),
        [EventTypes.SubscriptionActivated] = typeof(SubscriptionResponse),
        [EventTypes.SubscriptionPlanChanged] = typeof(SubscriptionResponse),
        [EventTypes.SubscriptionDowngradeScheduled] = typeof(SubscriptionResponse),
        [EventTypes.SubscriptionPastDue] = typeof(SubscriptionResponse),
        [EventTypes.SubscriptionSuspended] = typeof(SubscriptionResponse),
        [EventTypes.SubscriptionCanceled] = typeof(SubscriptionResponse),
        [EventTypes.SubscriptionResumed] = typeof(SubscriptionResponse),
        [EventTypes.BillingDisputeOpened] = typeof(DisputeView),
        [EventTypes.BillingDisputeClosed] = typeof(DisputeView),
        [EventTypes.BillingViolationsChanged] = typeof(ListViolationsResponse),
        [EventTypes.UsageThresholdReached] = typeof(UsageThresholdReached),
        [EventTypes.UsageLimitReached] = typeof(UsageLimitReached),
        [EventTypes.ApiKeyCreated] = typeof(ApiKeyResponse),
        [EventTypes.ApiKeyRevoked] = typeof(ApiKeyResponse),
        [EventTypes.ApiKeyRotated] = typeof(ApiKeyResponse),
        [EventTypes.SmsDelivered] = typeof(SmsView),
        [EventTypes.SmsFailed] = typeof(SmsView),
        [EventTypes.SmsOptedOut] = typeof(SmsConsentChange),
        [EventTypes.SmsOptedIn] = typeof(SmsConsentChange),
        [EventTypes.OrganizationCreated] = typeof(OrganizationResponse),
        [EventTypes.OrganizationDeleted] = typeof(OrganizationResponse),
        [EventTypes.InboxEventDead] = typeof(InboxEventDead),
        [EventTypes.EndpointDisabled] = typeof(EndpointDisabledData),
    };

    /// <summary>Serialised as the publisher writes <c>data</c> (web defaults: camelCase).</summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() };

    private static readonly Lazy<IReadOnlyDictionary<string, JsonElement>> Schemas = new(() =>
        All.ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(
            JsonSchemaExporter.GetJsonSchemaAsNode(Json, p.Value, new JsonSchemaExporterOptions { TreatNullObliviousAsNonNullable = true }))));

    /// <summary>The JSON schema of <paramref name="type"/>'s data, from <see cref="JsonSchemaExporter"/>.</summary>
    public static JsonElement SchemaOf(string type) => Schemas.Value[type];

    /// <summary>The OpenAPI component name of a type's data schema: <c>subscription.past_due</c> → <c>SubscriptionPastDueEventData</c>.</summary>
    public static string ComponentName(string type) =>
        string.Concat(type.Split('.', '_').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..])) + "EventData";
}
