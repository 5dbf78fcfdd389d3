using Backstop.Features.ApiKeys;
using Backstop.Features.Billing;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.OperatorConsole.Pages;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>
/// The operator console at <c>/console</c>: Razor components rendered on the server (static server rendering, no
/// script), a cookie session of its own (<see cref="ConsoleAuth"/>), pages that read through the admin API's own
/// stores and queries, and actions as form posts that need the admin role and an antiforgery token.
/// </summary>
internal static class ConsoleExtensions
{
    /// <summary>No script at all; styles only from this server; never framed; forms post only here.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static IServiceCollection AddOperatorConsole(this IServiceCollection services)
    {
        services.AddSingleton<OperatorKeyStore>();
        services.AddScoped<ConsoleSignIn>();
        services.AddSingleton<InboxDepths>();
        services.AddSingleton<OutboxDepths>();
        services.AddConsoleAuthentication();
        // Antiforgery options are the application's, not the console's: the jobs dashboard (/hangfire) checks its
        // commands with the same IAntiforgery, so the token cookie must reach both paths (no Cookie.Path).
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "backstop_af";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.FormFieldName = "__csrf";
        });
        services.AddRazorComponents();
        return services;
    }

    public static WebApplication UseOperatorConsole(this WebApplication app)
    {
        // Only /console passes this branch: the API's requests see one path comparison and nothing else.
        app.UseWhen(c => c.Request.Path.StartsWithSegments("/console"), console => console
            .Use((context, next) =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XFrameOptions = "DENY";
                headers.CacheControl = "no-store";
                return next(context);
            })
            .UseAntiforgery());

        app.MapGet("/console/console.css", () => Results.Text(ConsoleStyles.Css, "text/css")).AllowAnonymous().ExcludeFromDescription();
        // Every form post needs the antiforgery token of a page this server rendered: checked here, before anything
        // else runs, whether or not the endpoint reads the form (the framework checks only those that bind it).
        var console = app.MapGroup("/console").ExcludeFromDescription().AddEndpointFilter(async (context, next) =>
        {
            var antiforgery = context.HttpContext.RequestServices.GetRequiredService<IAntiforgery>();
            if (!await antiforgery.IsRequestValidAsync(context.HttpContext))
                return Results.Text("This form has expired or did not come from the console: reload the page and try again.", "text/plain", statusCode: 400);
            return await next(context);
        });
        console.MapPost("/sign-in", SignInAsync).AllowAnonymous();
        console.MapPost("/sign-out", SignOutAsync).RequireAuthorization(ConsoleAuth.ViewPolicy);
        // Every action: the admin role. A read_only session is answered 403 before anything is read or changed.
        var act = console.MapGroup("").RequireAuthorization(ConsoleAuth.ActPolicy);
        act.MapPost("/inbox/{id}/replay", ReplayAsync);
        act.MapPost("/organizations/{orgId}/api-keys/{keyId}/revoke", RevokeKeyAsync);
        act.MapPost("/organizations/{orgId}/grace", ExtendGraceAsync);
        act.MapPost("/organizations/{orgId}/suspension-lift", LiftSuspensionAsync);
        act.MapPost("/organizations/{orgId}/usage-reset", ResetUsageAsync);
        // Not "/inbox/replays": the page of that path answers posts too (Razor components take form posts).
        act.MapPost("/inbox/replays/start", ConsoleReplays.StartAsync);
        act.MapPost("/inbox/replays/{id}/cancel", ConsoleReplays.CancelAsync);
        app.MapRazorComponents<ConsoleApp>();
        return app;
    }

    private static async Task<IResult> SignInAsync(HttpContext context, [FromForm(Name = "key")] string? key, [FromForm(Name = "returnUrl")] string? returnUrl,
        ConsoleSignIn signIn)
    {
        switch (await signIn.SignInAsync(context, key))
        {
            case ConsoleSignIn.SignedIn:
                return Results.Redirect(LocalConsoleUrl(returnUrl), permanent: false, preserveMethod: false);
            case ConsoleSignIn.LockedOut locked:
                context.Response.Headers.RetryAfter = locked.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return SignInPage(429, "Too many failed sign-in attempts from this address; try again later.", returnUrl);
            default:
                return SignInPage(401, "That key is not a valid admin or operator key.", returnUrl);
        }
    }

    private static RazorComponentResult<SignIn> SignInPage(int status, string error, string? returnUrl) =>
        new(new Dictionary<string, object?> { [nameof(SignIn.Error)] = error, [nameof(SignIn.ReturnUrl)] = returnUrl }) { StatusCode = status };

    /// <summary>Where to go after signing in: a console page of this server, never another site (an open redirect).</summary>
    internal static string LocalConsoleUrl(string? returnUrl) =>
        returnUrl is { Length: > 0 and < 2000 } u && u.StartsWith("/console", StringComparison.Ordinal) && !u.StartsWith("//", StringComparison.Ordinal)
            && !u.Contains('\\') ? u : "/console";

    private static async Task<IResult> SignOutAsync(HttpContext context, IAuditLog audit)
    {
        await audit.RecordAsync(new AuditEntry(AuditActions.ConsoleSignOut, "operator_key",
            context.User.FindFirst(ConsoleAuth.KeyIdClaim)?.Value ?? ""), CancellationToken.None);
        await context.SignOutAsync(ConsoleAuth.Scheme);
        return Results.Redirect("/console/sign-in");
    }

    /// <summary>As <c>POST /v1/admin/webhooks/{id}/replay</c>: a processed, ignored or dead event's handlers run again.</summary>
    private static async Task<IResult> ReplayAsync(string id, WebhookInbox inbox, IAuditLog audit, ILoggerFactory logs, CancellationToken ct)
    {
        var before = await inbox.GetAsync(id, ct);
        if (before is null) return Results.NotFound();
        logs.CreateLogger("Backstop.Console").LogInformation("Console replays webhook event {WebhookId} ({Provider} {EventType}, {Status})",
            before.Id, before.Provider, before.EventType, before.Status);
        var outcome = await inbox.ReplayAsync(id, ct);
        var after = await inbox.GetAsync(id, ct);
        var notice = outcome switch
        {
            ProcessOutcome.NotClaimed => "not_replayable",
            ProcessOutcome.Failed => "replay_failed",
            _ => "replayed",
        };
        if (after is not null && outcome is not (ProcessOutcome.NotClaimed or ProcessOutcome.Failed))
            await audit.RecordAsync(new AuditEntry(AuditActions.WebhookReplay, "webhook_event", after.Id,
                Changes: new { after.Provider, after.EventType, status = new { from = before.Status, to = after.Status } }), ct);
        return Results.Redirect($"/console/inbox/{Uri.EscapeDataString(id)}?notice={notice}", permanent: false, preserveMethod: false);
    }

    /// <summary>As <c>DELETE /v1/admin/organizations/{orgId}/api-keys/{keyId}</c> (audited by the store).</summary>
    private static async Task<IResult> RevokeKeyAsync(string orgId, string keyId, ApiKeyStore keys, CancellationToken ct)
    {
        try
        {
            await keys.RevokeAsync(orgId, keyId, ct);
        }
        catch (Errors.ProblemException e) when (e.Status == 404)
        {
            return Results.NotFound();
        }
        return Results.Redirect($"/console/organizations/{Uri.EscapeDataString(orgId)}?notice=key_revoked", permanent: false, preserveMethod: false);
    }

    private static RedirectHttpResult ToOrganization(string orgId, string notice) =>
        TypedResults.Redirect($"/console/organizations/{Uri.EscapeDataString(orgId)}?notice={notice}");

    /// <summary>A form the API would refuse (400 there too): the sentence, nothing changed.</summary>
    private static IResult BadForm(string sentence) => Results.Text(sentence, "text/plain", statusCode: 400);

    /// <summary>As <c>POST /v1/admin/organizations/{id}/grace</c>: a past-due or suspended subscription's grace ends later (audited by the store).</summary>
    private static async Task<IResult> ExtendGraceAsync(string orgId, [FromForm(Name = "until")] string? until, IOperatorAccess access, TimeProvider time,
        CancellationToken ct)
    {
        if (!Format.TryUtc(until, out var at) || at is null) return BadForm("The new end of the grace period is not a date and time (UTC).");
        if (at <= time.GetUtcNow()) return BadForm("The new end of the grace period must be in the future.");
        try
        {
            await access.ExtendGraceAsync(orgId, at.Value, ct);
        }
        catch (Errors.ProblemException e) when (e.Status == 404)
        {
            return Results.NotFound();
        }
        catch (Errors.ProblemException e) when (e.Status == 409)
        {
            return ToOrganization(orgId, e.Code);
        }
        return ToOrganization(orgId, "grace_extended");
    }

    /// <summary>As <c>POST /v1/admin/organizations/{id}/suspension-lift</c>: admitted for N days whatever the payment state (audited by the store).</summary>
    private static async Task<IResult> LiftSuspensionAsync(string orgId, [FromForm(Name = "days")] string? days, [FromForm(Name = "reason")] string? reason,
        IOperatorAccess access, CancellationToken ct)
    {
        if (!int.TryParse(days, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1 || n > AccessOverrides.MaxDays)
            return BadForm($"Days must be a whole number from 1 to {AccessOverrides.MaxDays}.");
        if (ReasonError(reason) is { } error) return BadForm(error);
        try
        {
            await access.LiftSuspensionAsync(orgId, n, reason!.Trim(), ct);
        }
        catch (Errors.ProblemException e) when (e.Status == 404)
        {
            return Results.NotFound();
        }
        return ToOrganization(orgId, "suspension_lifted");
    }

    /// <summary>As <c>POST /v1/admin/organizations/{orgId}/usage/{metric}/reset</c>: the current period's usage back to 0 (audited with its reason).</summary>
    private static async Task<IResult> ResetUsageAsync(string orgId, [FromForm(Name = "metric")] string? metric, [FromForm(Name = "reason")] string? reason,
        UsageResets resets, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(metric) || metric.Length > 100) return BadForm("Choose a metric.");
        if (ReasonError(reason) is { } error) return BadForm(error);
        try
        {
            await resets.ResetAsync(orgId, metric.Trim(), reason!.Trim(), ct);
        }
        catch (Errors.ProblemException e) when (e.Status == 404)
        {
            return Results.NotFound();
        }
        return ToOrganization(orgId, "usage_reset");
    }

    /// <summary>The API's rule for a reason: required, at most 500 characters, no control characters.</summary>
    private static string? ReasonError(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? "A reason is required (it is kept in the audit log)."
        : reason.Trim().Length > 500 ? "The reason is at most 500 characters."
        : reason.Any(char.IsControl) ? "The reason must not contain control characters."
        : null;
}
