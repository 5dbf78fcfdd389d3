using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Features.Messaging;

/// <summary>Small builders for the messaging tests: tenants, numbers, webhook events run through the slice's handlers.</summary>
internal static class MessagingKit
{
    /// <summary>A fresh organization (through the ApiKeys admin API) and a client calling with one of its keys (default scopes: read, write).</summary>
    public static async Task<(HttpClient Client, string OrganizationId)> TenantAsync(this BackstopFactory app, params string[] scopes)
    {
        var tenant = await app.CreateTenantAsync(scopes);
        return (app.Client(tenant), tenant.OrganizationId);
    }

    /// <summary>A random valid US number in E.164.</summary>
    private static int nextNumber = Random.Shared.Next(0, 1_000_000);

    /// <summary>A number no other test of this run uses: tests share the local Twilio server and count by number.</summary>
    public static string NewNumber() =>
        "+1415" + (2000000 + Interlocked.Increment(ref nextNumber) % 8000000).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static Task<int> DispatchAsync(this BackstopFactory app) => app.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

    public static WebhookEvent TwilioEvent(this BackstopFactory app, string eventType, string eventId, IDictionary<string, string> form, int attempts = 0) =>
        new(Guid.NewGuid().ToString(), "twilio", eventId, eventType, JsonSerializer.Serialize(form), app.Time.GetUtcNow(), attempts);

    /// <summary>Runs the slice's handler for the event in one transaction, as the webhook inbox does.</summary>
    public static async Task HandleAsync(this BackstopFactory app, WebhookEvent webhookEvent)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var handler = scope.ServiceProvider.GetServices<IWebhookHandler>().Single(h => h.Provider == webhookEvent.Provider && h.Handles(webhookEvent.EventType));
        await app.Service<Db>().InTransactionAsync((c, t) => handler.HandleAsync(new WebhookContext(c, t, webhookEvent), CancellationToken.None));
    }

    public static WebhookReplyBody Reply(this BackstopFactory app, WebhookEvent webhookEvent) =>
        app.Services.GetServices<IWebhookReply>().Single(r => r.Provider == webhookEvent.Provider && r.EventType == webhookEvent.EventType).Reply(webhookEvent);

    public static Dictionary<string, string> Inbound(string from, string body, string sid) => new()
    {
        ["MessageSid"] = sid, ["SmsSid"] = sid, ["AccountSid"] = TwilioTestServer.AccountSid, ["From"] = from, ["To"] = TwilioTestServer.From, ["Body"] = body, ["NumMedia"] = "0",
    };

    public static string NewSid() => "SM" + Guid.NewGuid().ToString("N");

    /// <summary>
    /// A request as Twilio sends it to the inbox: form-encoded, signed with <c>X-Twilio-Signature</c> =
    /// base64(HMAC-SHA1(auth token, public URL ‖ each parameter name‖value sorted by name)).
    /// </summary>
    public static HttpRequestMessage SignedTwilioRequest(string path, IDictionary<string, string> form)
    {
        var data = new System.Text.StringBuilder("https://backstop.example.com" + path);
        foreach (var (name, value) in form.OrderBy(kv => kv.Key, StringComparer.Ordinal)) data.Append(name).Append(value);
        var signature = Convert.ToBase64String(System.Security.Cryptography.HMACSHA1.HashData(
            System.Text.Encoding.UTF8.GetBytes(TwilioTestServer.AuthToken), System.Text.Encoding.UTF8.GetBytes(data.ToString())));
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add("X-Twilio-Signature", signature);
        return request;
    }
}
