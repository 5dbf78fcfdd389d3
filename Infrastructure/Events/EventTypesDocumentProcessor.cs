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
/// Adds each event type's <c>data</c> schema to the OpenAPI document's components (<c>SubscriptionPastDueEventData</c>,
/// …, each a reference to the schema of its CLR type as NSwag generates it for the rest of the document), so a
/// client generator produces a class for each event's data.
/// </summary>
internal sealed class EventTypesDocumentProcessor : IDocumentProcessor
{
    public void Process(DocumentProcessorContext context)
    {
        foreach (var (type, clr) in EventDataTypes.All)
        {
            var schema = context.SchemaGenerator.GenerateWithReference<JsonSchema>(Namotion.Reflection.ContextualTypeExtensions.ToContextualType(clr), context.SchemaResolver);
            var component = new JsonSchema { Description = $"The data of `{type}` events: {EventTypes.All[type]}" };
            component.AllOf.Add(schema);
            context.Document.Components.Schemas[EventDataTypes.ComponentName(type)] = component;
        }
    }
}
