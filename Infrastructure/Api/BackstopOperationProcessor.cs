using FastEndpoints.Swagger;
using Microsoft.AspNetCore.Authorization;
using Namotion.Reflection;
using NJsonSchema;
using NSwag;
using NSwag.Generation.AspNetCore;
using NSwag.Generation.Processors;
using NSwag.Generation.Processors.Contexts;

namespace Backstop.Infrastructure.Api;

/// <summary>
/// Adds to each operation only what holds for every endpoint of its kind, because one shared component answers it:
/// the API-key scheme (security requirement; 401, 403 and 429 from the lockout) on every endpoint that requires
/// authorization and on no other, FastEndpoints' binder (400 for unreadable input) on every endpoint with inputs,
/// the server's body limit (413) on every endpoint with a body. Every error answer of the API is problem+json
/// (<see cref="ErrorHandling"/>), so each one is described with the <see cref="Problem"/> schema. The operation's
/// tag is its slice (the namespace after <c>Features.</c> or <c>Infrastructure.</c>), so the reference groups them.
/// </summary>
internal sealed class BackstopOperationProcessor : IOperationProcessor
{
    public const string SchemeName = "bearer";

    public bool Process(OperationProcessorContext context)
    {
        var metadata = ((AspNetCoreOperationProcessorContext)context).ApiDescription.ActionDescriptor.EndpointMetadata;
        var definition = context.GetEndpointDefinition();
        var operation = context.OperationDescription.Operation;

        if (definition is not null)
        {
            var slice = definition.EndpointType.Namespace?.Split('.').LastOrDefault();
            if (slice is not null && !operation.Tags.Contains(slice)) operation.Tags.Add(slice);
            operation.OperationId = OperationId(definition.EndpointType.Name, definition.Routes, context.OperationDescription.Path);
            if (metadata.OfType<Microsoft.AspNetCore.Http.Metadata.IEndpointSummaryMetadata>().LastOrDefault() is { } routeSummary)
                operation.Summary = routeSummary.Summary;
        }

        var secured = metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any();
        if (secured)
        {
            (operation.Security ??= []).Add(new OpenApiSecurityRequirement { [SchemeName] = [] });
            AddProblems(operation, 401, 403, 429);
        }
        else
        {
            // Said explicitly: this operation needs no credentials (the webhooks check the provider's signature). One
            // empty requirement, because the document's serializer leaves an empty list out.
            operation.Security = [new OpenApiSecurityRequirement()];
        }

        var hasBody = operation.RequestBody is not null;
        if (hasBody) AddProblems(operation, 413);
        // A body can be unreadable and a query value or a non-text route value may not convert; a text route value
        // always binds, so it can give 400 only through a validator (for which FastEndpoints declares 400 itself).
        if (hasBody || operation.Parameters.Any(p => p.Kind == OpenApiParameterKind.Query ||
                                                      p.ActualSchema.Type is not (JsonObjectType.String or JsonObjectType.None)))
            AddProblems(operation, 400);

        var problem = ProblemSchema(context);
        foreach (var (status, response) in operation.Responses)
        {
            if (!int.TryParse(status, out var code) || code < 400) continue;
            response.Content.Clear();
            response.Content[Problem.ContentType] = new OpenApiMediaType { Schema = new JsonSchema { Reference = problem } };
            if (string.IsNullOrWhiteSpace(response.Description)) response.Description = Problem.TitleFor(code);
        }

        var ordered = operation.Responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        operation.Responses.Clear();
        foreach (var (status, response) in ordered) operation.Responses[status] = response;
        return true;
    }

    /// <summary>
    /// The endpoint's class name (<c>CreateKey</c>), which generated clients turn into method names; an endpoint
    /// type serving several routes gets the route's own segments appended (<c>ReceiveWebhookTwilioSms</c>).
    /// </summary>
    internal static string OperationId(string typeName, string[] routes, string path)
    {
        if (routes.Length < 2) return typeName;
        var split = routes.Select(r => r.Trim('/').Split('/')).ToList();
        var common = 0;
        while (split.All(r => r.Length > common && r[common] == split[0][common])) common++;
        var own = path.Trim('/').Split('/').Skip(common).Where(s => !s.StartsWith('{'))
            .SelectMany(s => s.Split('-', '_'))
            .Where(s => s.Length > 0)
            .Select(s => char.ToUpperInvariant(s[0]) + s[1..]);
        return typeName + string.Concat(own);
    }

    private static void AddProblems(OpenApiOperation operation, params int[] statuses)
    {
        foreach (var status in statuses)
            operation.Responses.TryAdd(status.ToString(System.Globalization.CultureInfo.InvariantCulture), new OpenApiResponse());
    }

    private static JsonSchema ProblemSchema(OperationProcessorContext context)
    {
        if (context.SchemaResolver.HasSchema(typeof(Problem), false)) return context.SchemaResolver.GetSchema(typeof(Problem), false);
        return context.SchemaGenerator.GenerateWithReference<JsonSchema>(typeof(Problem).ToContextualType(), context.SchemaResolver).ActualSchema;
    }
}
