using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// The one place request body limits are decided. Kestrel's global limit is the largest webhook limit (Deepgram's
/// callbacks carry whole transcripts), and every request then gets its own, before anything reads its body: a
/// webhook route its provider's <c>Webhooks:MaxBodyBytes:&lt;provider&gt;</c>, everything else <see cref="ApiMaxBodyBytes"/>.
/// <see cref="ReceiveWebhook"/> counts the bytes it reads against the same limit, for hosts that enforce none (TestServer).
/// </summary>
internal static class RequestBodyLimits
{
    /// <summary>The API's limit: no endpoint outside the webhook inbox takes more than 1 MiB.</summary>
    public const long ApiMaxBodyBytes = 1024 * 1024;

    /// <summary>Raises Kestrel's global limit to the largest configured webhook limit (read from configuration: this runs before the container exists).</summary>
    public static void ConfigureKestrel(IConfiguration configuration, KestrelServerOptions kestrel)
    {
        var limits = configuration.GetSection(WebhooksOptions.Section + ":MaxBodyBytes").Get<WebhookBodyLimits>() ?? new WebhookBodyLimits();
        kestrel.Limits.MaxRequestBodySize = Math.Max(ApiMaxBodyBytes, limits.Max);
    }

    /// <summary>The limit of a request path: its provider's for a webhook route, else the API's.</summary>
    public static long For(PathString path, WebhookBodyLimits limits) =>
        ReceiveWebhook.ProviderRoutes.TryGetValue(path.Value?.TrimEnd('/') ?? "", out var route)
            ? limits.For(WebhookProviders.ProviderOf(route))
            : ApiMaxBodyBytes;

    /// <summary>Sets each request's limit before the pipeline reads anything.</summary>
    public static IApplicationBuilder UseRequestBodyLimits(this IApplicationBuilder app)
    {
        var limits = app.ApplicationServices.GetRequiredService<IOptions<WebhooksOptions>>().Value.MaxBodyBytes;
        return app.Use((context, next) =>
        {
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
                feature.MaxRequestBodySize = For(context.Request.Path, limits);
            return next(context);
        });
    }
}
