using Backstop.Features.Billing;
using FastEndpoints;

namespace Backstop.Features.Bots;

/// <summary>
/// <c>POST /v1/meetings/{id}/bot</c>: starts the meeting's recording bot. Exactly one of any number of concurrent
/// calls starts it; the others get 409 <c>bot_already_active</c> (or <c>meeting_url_in_use</c> when another meeting
/// of the organization records the same URL).
/// </summary>
internal sealed class StartBot(BotStarter starter, Meetings meetings, IAccessGate gate) : Endpoint<MeetingIdRequest, MeetingResponse>
{
    public override void Configure()
    {
        Post("/v1/meetings/{id}/bot");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Start the meeting's recording bot.");
        Description(d => d.Problems(402, 403, 404, 409, 502, 503));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        // A start records a meeting: gated like creating one, before the claim is written.
        await gate.EnsureAllowedAsync(organizationId, GatedAction.Create, "meetings_per_month", ct);
        // A bot records audio that will be stored: a blocking storage violation refuses it too (Billing decides the grace).
        await gate.EnsureAllowedAsync(organizationId, GatedAction.Create, "storage_bytes", ct);
        // Bot time past the plan's bot_minutes (a blocking violation) refuses new bots.
        await gate.EnsureAllowedAsync(organizationId, GatedAction.Create, BotMinutes.Metric, ct);
        await starter.StartAsync(organizationId, req.Id, ct);
        var row = await meetings.GetAsync(organizationId, req.Id, ct);
        await Send.OkAsync(MeetingResponse.From(row, await meetings.HistoryAsync(row, ct)), ct);
    }
}
