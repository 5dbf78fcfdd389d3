using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json.Serialization;
using NJsonSchema;
using NJsonSchema.Generation;
using NSwag;
using NSwag.Generation.Processors;
using NSwag.Generation.Processors.Contexts;

namespace Backstop.Infrastructure.Api;

/// <summary>
/// Gives every answer of the API one shape in the document, so a generated client types each field as the server
/// sends it. The server writes every property of an answer, null or not (<c>JsonIgnoreCondition.Never</c>), so every
/// property of a schema an answer reaches is <c>required</c>, except one whose C# property is
/// <c>[JsonIgnore(Condition = WhenWritingNull/WhenWritingDefault)]</c> (the problem's <c>errors</c>), which may be
/// absent. NJsonSchema already marks a property <c>nullable</c> from its C# nullability, so a nullable one reads
/// <c>string | null</c> and a non-nullable one <c>string</c> in a generated client. Request schemas are left as the
/// validators describe them (a property with a default value is optional there). Also keeps the document within
/// OpenAPI 3.0's rules for <c>nullable</c>, which needs a <c>type</c> beside it: a nullable reference (written as a
/// one-item <c>oneOf</c>) gets the referenced schema's type, and an untyped schema (any JSON value) drops the flag.
/// </summary>
internal sealed class ResponseShapeProcessor : ISchemaProcessor, IDocumentProcessor
{
    /// <summary>Properties of each generated schema that the serializer may leave out of an answer.</summary>
    private readonly ConditionalWeakTable<JsonSchema, HashSet<string>> omittable = new();

    public void Process(SchemaProcessorContext context)
    {
        var names = context.ContextualType.Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is { Condition: not JsonIgnoreCondition.Never })
            .Select(p => JsonName(context.Schema, p))
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);
        if (names.Count > 0) omittable.AddOrUpdate(context.Schema, names);
    }

    public void Process(DocumentProcessorContext context)
    {
        var document = context.Document;
        var answers = new HashSet<JsonSchema>(ReferenceEqualityComparer.Instance);
        foreach (var operation in document.Paths.Values.SelectMany(p => p.Values))
            foreach (var (status, response) in operation.Responses)
                if (int.TryParse(status, out var code) && code is >= 200 and < 600)
                    foreach (var (type, media) in response.Content)
                        if (media.Schema is not null && type.Contains("json", StringComparison.Ordinal)) Walk(media.Schema, answers);

        foreach (var schema in answers)
        {
            omittable.TryGetValue(schema, out var optional);
            foreach (var (name, property) in schema.Properties)
                if (optional?.Contains(name) != true) property.IsRequired = true;
        }

        var all = new HashSet<JsonSchema>(ReferenceEqualityComparer.Instance);
        foreach (var schema in document.Components.Schemas.Values) Walk(schema, all);
        foreach (var operation in document.Paths.Values.SelectMany(p => p.Values))
        {
            foreach (var parameter in operation.Parameters)
                if (parameter.Schema is not null) Walk(parameter.Schema, all);
            var bodies = operation.RequestBody is { } body ? body.Content.Values : Enumerable.Empty<OpenApiMediaType>();
            foreach (var media in bodies.Concat(operation.Responses.Values.SelectMany(r => r.Content.Values)))
                if (media.Schema is not null) Walk(media.Schema, all);
        }
        foreach (var schema in all) TypeBesideNullable(schema);
    }

    /// <summary>OpenAPI 3.0: <c>nullable</c> only means something beside <c>type</c>.</summary>
    private static void TypeBesideNullable(JsonSchema schema)
    {
        if (schema.IsNullableRaw != true || schema.Type != JsonObjectType.None || schema.Reference is not null) return;
        var composed = schema.OneOf.Concat(schema.AllOf).Concat(schema.AnyOf).ToList();
        if (composed.Count == 1 && composed[0].ActualSchema.Type != JsonObjectType.None)
            schema.Type = composed[0].ActualSchema.Type;
        else if (composed.Count == 0)
            schema.IsNullableRaw = null; // any JSON value, null included
    }

    private static void Walk(JsonSchema schema, HashSet<JsonSchema> seen)
    {
        if (!seen.Add(schema)) return;
        if (schema.Reference is { } target) Walk(target, seen);
        foreach (var property in schema.Properties.Values) Walk(property, seen);
        if (schema.Item is not null) Walk(schema.Item, seen);
        foreach (var item in schema.Items) Walk(item, seen);
        if (schema.AdditionalPropertiesSchema is not null) Walk(schema.AdditionalPropertiesSchema, seen);
        foreach (var part in schema.AllOf.Concat(schema.OneOf).Concat(schema.AnyOf)) Walk(part, seen);
    }

    private static string? JsonName(JsonSchema schema, PropertyInfo property)
    {
        if (property.GetCustomAttribute<JsonPropertyNameAttribute>() is { } named) return named.Name;
        return schema.Properties.Keys.FirstOrDefault(k => string.Equals(k, property.Name, StringComparison.OrdinalIgnoreCase));
    }
}
