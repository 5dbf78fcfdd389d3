using Backstop.Tests.Infrastructure.Inbox;

namespace Backstop.Tests.Support;

/// <summary>Stripe's side of a test: events delivered to the inbox as Stripe sends them.</summary>
public static class StripeKit
{
    /// <summary>
    /// Delivers a signed Stripe event (made at <paramref name="created"/>, the app's current time when not given) and
    /// checks the inbox accepted it (200): it has been processed when this returns. Answers the event's id.
    /// </summary>
    public static async Task<string> DeliverStripeAsync(this BackstopFactory app, string type, object dataObject,
        DateTimeOffset? created = null, string? eventId = null)
    {
        eventId ??= "evt_" + Guid.NewGuid().ToString("N");
        var now = app.Time.GetUtcNow();
        var response = await app.CreateClient().SendAsync(StripeSetup.Event(eventId, type, dataObject, created ?? now, now));
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return eventId;
    }
}
