using FastEndpoints;

namespace Backstop.Features.Bots;

internal sealed record MeetingIdRequest
{
    public string Id { get; init; } = "";
}

/// <summary><c>GET /v1/meetings/{id}</c>: the meeting with its current bot's status history.</summary>
internal sealed class GetMeeting(Meetings meetings) : Endpoint<MeetingIdRequest, MeetingResponse>
{
    public override void Configure()
    {
        Get("/v1/meetings/{id}");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "Get a meeting with its bot's status history.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var row = await meetings.GetAsync(User.OrganizationId(), req.Id, ct);
        await Send.OkAsync(MeetingResponse.From(row, await meetings.HistoryAsync(row, ct)), ct);
    }
}
