using FastEndpoints;

namespace Backstop.Features.Bots;

internal sealed record ListMeetingsRequest : PageRequest
{
    /// <summary>Only meetings in this status.</summary>
    [QueryParam] public string? Status { get; init; }

    public sealed class Validator : Validator<ListMeetingsRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.Status).Must(s => s is null || MeetingStatus.All.Contains(s))
                .WithMessage("status must be one of " + string.Join(", ", MeetingStatus.All) + ".");
        }
    }
}

/// <summary><c>GET /v1/meetings</c>: the organization's meetings (not deleted), newest first.</summary>
internal sealed class ListMeetings(Db db, Meetings meetings) : Endpoint<ListMeetingsRequest, Page<MeetingResponse>>
{
    public override void Configure()
    {
        Get("/v1/meetings");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "List the organization's meetings, newest first, optionally by status.");
    }

    public override async Task HandleAsync(ListMeetingsRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        Page<MeetingRow> page;
        await using (var connection = await db.OpenAsync(ct))
            page = await connection.PageAsync<MeetingRow>($"select {Meetings.Columns} from meetings",
                "organization_id = @organizationId and deleted_at is null and (@status is null or status = @status)",
                new { organizationId, status = req.Status }, req, m => m.Id, ct);
        var history = await meetings.HistoryAsync(page.Items, ct);
        await Send.OkAsync(new Page<MeetingResponse>(
            page.Items.Select(m => MeetingResponse.From(m, m.BotId is not null && history.TryGetValue(m.BotId, out var h) ? h : [])).ToList(),
            page.NextCursor), ct);
    }
}
