using FastEndpoints;

namespace Backstop.Infrastructure.Events;

internal static class Recover
{
    /// <summary>A dry run answers 202 too (one success status per operation): nothing was started, <c>recovery</c> is null.</summary>
    public static async Task<RecoverEventsResponse> RunAsync(EventRedeliveries redeliveries, EndpointOwner owner, RecoverEventsRequest req, CancellationToken ct)
    {
        var dryRun = req.DryRun == true;
        var (total, recovery) = await redeliveries.RecoverAsync(owner, req.Id, req.Since!.Value, dryRun, ct);
        return new RecoverEventsResponse(total, dryRun, recovery);
    }
}
