using FastEndpoints;

namespace Backstop.Features.Bots;

internal sealed record ListAdminMeetingsRequest : PageRequest
{
    /// <summary>Only the stuck meetings (each with its <c>stuckReason</c>).</summary>
    [QueryParam] public bool? Stuck { get; init; }

    /// <summary>Only meetings in this status.</summary>
    [QueryParam] public string? Status { get; init; }

    /// <summary>Only this organization's meetings.</summary>
    [QueryParam] public string? OrganizationId { get; init; }

    public sealed class Validator : Validator<ListAdminMeetingsRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.Status).Must(s => s is null || MeetingStatus.All.Contains(s))
                .WithMessage("status must be one of " + string.Join(", ", MeetingStatus.All) + ".");
            RuleFor(r => r.OrganizationId).MaximumLength(100);
        }
    }
}

/// <summary><c>GET /v1/admin/meetings?stuck=true</c>: every organization's meetings, newest first; the stuck ones with why.</summary>
internal sealed class ListAdminMeetings(IMeetingOverview overview) : Endpoint<ListAdminMeetingsRequest, Page<MeetingOverview>>
{
    public override void Configure()
    {
        Get("/v1/admin/meetings");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List meetings of every organization, newest first; stuck=true: only the stuck ones, with why.");
    }

    public override async Task HandleAsync(ListAdminMeetingsRequest req, CancellationToken ct)
    {
        var page = await overview.ListAsync(req.Stuck == true, req.Status, req.OrganizationId, req.After, req.Take, ct);
        await Send.OkAsync(new Page<MeetingOverview>(page.Items, page.NextCursor is { } last ? Paging.Encode(last) : null), ct);
    }
}
