using System.Text;
using FastEndpoints;

namespace Backstop.Features.Billing.Plans;

internal sealed record ListPlansRequest
{
    [QueryParam] public int? Limit { get; init; }
    [QueryParam] public string? Cursor { get; init; }
}

/// <summary><c>GET /v1/admin/plans</c>: every plan, active or not, ordered by code, paginated.</summary>
internal sealed class ListPlans(PlanStore plans) : Endpoint<ListPlansRequest, Page<PlanResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/plans");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List plans (ordered by code, paginated).");
    }

    public sealed class Validator : Validator<ListPlansRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Limit).InclusiveBetween(1, 100).When(r => r.Limit is not null).WithMessage("limit must be between 1 and 100.");
            RuleFor(r => r.Cursor).Must(c => c is null || Decode(c) is not null).WithErrorCode("invalid_cursor")
                .WithMessage("cursor is not a cursor this API returned; pass nextCursor of a previous page unchanged, or leave it out for the first page.");
        }
    }

    /// <summary>Plans are keyed by their code, not by a UUID like the other lists: the cursor carries the last code.</summary>
    internal static string? Decode(string cursor)
    {
        if (cursor.Length is 0 or > 80) return null;
        try
        {
            var s = cursor.Replace('-', '+').Replace('_', '/');
            s += new string('=', (4 - s.Length % 4) % 4);
            var code = Encoding.UTF8.GetString(Convert.FromBase64String(s));
            return PlanRules.CodePattern().IsMatch(code) ? code : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public override async Task HandleAsync(ListPlansRequest req, CancellationToken ct)
    {
        var take = req.Limit ?? 50;
        var rows = await plans.ListAsync(req.Cursor is null ? null : Decode(req.Cursor), take, ct);
        var page = rows.Count > take
            ? new Page<PlanRecord>(rows.Take(take).ToList(), Paging.Encode(rows[take - 1].Code))
            : new Page<PlanRecord>(rows, null);
        await Send.OkAsync(page.Map(PlanResponse.From), ct);
    }
}
