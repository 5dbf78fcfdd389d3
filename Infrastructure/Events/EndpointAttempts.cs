using FastEndpoints;

namespace Backstop.Infrastructure.Events;

internal static class EndpointAttempts
{
    /// <summary>The delivery log of the owner's endpoint (404 for another owner's), newest first, in the API's page envelope.</summary>
    public static async Task<Page<EventDeliveryAttempt>> ListAsync(Db db, EndpointOwner owner, ListEndpointAttemptsRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await EventEndpointStore.FindAsync(connection, null, owner, req.Id, ct);
        var page = await EventAttempts.ListAsync(connection, null, req.Id, null, req.After, req.Take, ct);
        return new Page<EventDeliveryAttempt>(page.Items, page.NextCursor is null ? null : Paging.Encode(page.NextCursor));
    }
}
