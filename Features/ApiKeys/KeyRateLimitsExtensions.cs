using System.Collections.Concurrent;
using System.Globalization;

namespace Backstop.Features.ApiKeys;

internal static class KeyRateLimitsExtensions
{
    /// <summary>After authentication: a tenant key's request over its limits is answered 429 before its endpoint runs (or its body is read). The admin key is not limited.</summary>
    public static IApplicationBuilder UseKeyRateLimits(this IApplicationBuilder app)
    {
        var limits = app.ApplicationServices.GetRequiredService<KeyRateLimits>();
        return app.Use(async (context, next) =>
        {
            if (context.Features.Get<AuthenticatedKey>()?.Key.Id is { } keyId)
            {
                var decision = limits.Take(keyId, KeyRateLimits.CallsProvider(context.Request));
                if (!decision.Allowed)
                {
                    await KeyRateLimits.RefuseAsync(context, decision);
                    return;
                }
            }
            await next(context);
        });
    }
}
