using System.Text.Json.Serialization;
using FastEndpoints;
using FastEndpoints.Swagger;
using NSwag;
using Scalar.AspNetCore;

namespace Backstop.Infrastructure.Api;

internal static class ApiExtensions
{
    public const string DocumentName = "v1";

    public static IServiceCollection AddApi(this IServiceCollection services)
    {
        services.AddCheckedOptions<ApiOptions>(ApiOptions.Section);
        services.AddFastEndpoints();
        // FastEndpoints.Swagger (NSwag) reads FastEndpoints' own binding (route values, [QueryParam], what is left
        // for the body) and the endpoints' Summary() and Description(); Microsoft.AspNetCore.OpenApi sees none of it.
        services.SwaggerDocument(o =>
        {
            o.EnableJWTBearerAuth = false;
            o.ExcludeNonFastEndpoints = true;
            // The service's own endpoints only (a test host adds some of its own).
            o.EndpointFilter = e => e.EndpointType.Assembly == typeof(ApiExtensions).Assembly;
            o.AutoTagPathSegmentIndex = 0;
            o.ShortSchemaNames = true;
            o.RemoveEmptyRequestSchema = true;
            o.DocumentSettings = s =>
            {
                s.DocumentName = DocumentName;
                s.Title = "Backstop API";
                s.Version = "v1";
                s.Description =
                    "Webhook inbox (Stripe, Clerk, Recall.ai, Deepgram, Paddle, Twilio) with admin inspection and replay, " +
                    "organizations, members and API keys, meetings recorded by Recall.ai with stored audio and Deepgram transcripts, " +
                    "SMS and one-time codes, the outbox and recurring jobs. " +
                    "Authenticate with `Authorization: Bearer <key>` where an operation requires it; webhook endpoints " +
                    "authenticate by the provider's signature instead. Errors are RFC 9457 problem details " +
                    "(`application/problem+json`) with a stable `code`.";
                s.OperationProcessors.Add(new BackstopOperationProcessor());
                s.DocumentProcessors.Add(new Events.EventTypesDocumentProcessor());
                var shape = new ResponseShapeProcessor();
                s.SchemaSettings.SchemaProcessors.Add(shape);
                s.DocumentProcessors.Add(shape);
                s.PostProcess = document =>
                {
                    document.Components.SecuritySchemes[BackstopOperationProcessor.SchemeName] = new OpenApiSecurityScheme
                    {
                        Type = OpenApiSecuritySchemeType.Http,
                        Scheme = "bearer",
                        Description = "An organization's API key (bsk_live_…) or the operator's admin key.",
                    };
                };
            };
        });
        return services;
    }

    public static WebApplication MapApi(this WebApplication app)
    {
        app.UseFastEndpoints(c =>
        {
            ErrorHandling.Configure(c);
            c.Serializer.Options.Converters.Add(new JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower));
            c.Serializer.Options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
            var options = c.Serializer.Options;
            c.Serializer.ResponseSerializer = (response, dto, contentType, context, ct) =>
                JsonResponses.WriteAsync(response, dto, contentType, context?.Options ?? options, ct);
        });
        // Api:DocsEnabled=false: the reference and the document are not mapped at all (404), for operators who do not
        // publish their API's shape.
        if (!app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.DocsEnabled) return app;
        app.UseOpenApi(c =>
        {
            c.Path = "/openapi/{documentName}.json";
            // No absolute server URL: behind a proxy the address this request came to is not the one clients use.
            // The one server is "/", which OpenAPI resolves against the document's own address (what an absent
            // list means too, but linters and some generators want the list present).
            c.PostProcess = (document, _) =>
            {
                document.Servers.Clear();
                document.Servers.Add(new OpenApiServer { Url = "/" });
            };
        });
        // Everything the reference needs is served from here: no web fonts, no telemetry, no agent or MCP
        // integrations calling Scalar's services, no client button pointing at Scalar's apps.
        app.MapScalarApiReference("/docs", o => o
            .WithTitle("Backstop API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json")
            .AddDocument(DocumentName)
            .DisableDefaultFonts()
            .HideDeveloperTools()
            .DisableAgent()
            .DisableMcp()
            .DisableTelemetry()
            .HideClientButton()
            .AddPreferredSecuritySchemes(BackstopOperationProcessor.SchemeName));
        return app;
    }
}
