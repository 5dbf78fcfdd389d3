using System.Text.Json.Serialization;
using Backstop.Infrastructure.Errors;
using FastEndpoints;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Backstop.Infrastructure.Api;

public static class ApiExtensions
{
    public static IServiceCollection AddApi(this IServiceCollection services)
    {
        services.AddFastEndpoints();
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Backstop API",
                Version = "v1",
                Description = "Webhooks inbox, API keys, bots, billing, quota, jobs and messaging. " +
                              "Authenticate with 'Authorization: Bearer <key>'. Errors are RFC 9457 problem details with a stable 'code'.",
            };
            // One bearer scheme for every endpoint (the admin key or an organization's key), so the reference at
            // /docs can send it; anonymous endpoints (health, webhooks) simply ignore it.
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An organization's API key (bsk_live_…) or the operator's admin key.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
            return Task.CompletedTask;
        }));
        return services;
    }

    public static WebApplication MapApi(this WebApplication app)
    {
        app.UseFastEndpoints(c =>
        {
            ErrorHandling.Configure(c);
            c.Serializer.Options.Converters.Add(new JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower));
            c.Serializer.Options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        });
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference("/docs", o => o
            .WithTitle("Backstop API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json"));
        return app;
    }
}
