using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record OrganizationIdRequest
{
    public string OrgId { get; init; } = "";
}

/// <summary>
/// <c>GET /v1/admin/organizations/{orgId}</c>.
/// A deleted organization is answered too, with <c>deletedAt</c> and the deletion's progress: what of its data each
/// slice still holds (<see cref="IOrganizationDataReport"/>) until the retention sweeps remove it.
/// </summary>
internal sealed class GetOrganization(OrganizationStore organizations, IEnumerable<IOrganizationDataReport> reports)
    : Endpoint<OrganizationIdRequest, OrganizationResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations/{orgId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Get an organization (a deleted one with the progress of its deletion).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(OrganizationIdRequest req, CancellationToken ct)
    {
        if (await organizations.FindDeletedAsync(req.OrgId, ct) is not { } deleted)
        {
            await Send.OkAsync(OrganizationResponse.From(await organizations.GetAsync(req.OrgId, ct)), ct);
            return;
        }
        var remaining = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var report in reports)
            foreach (var (name, count) in await report.RemainingAsync(deleted.Id, ct))
                remaining[name] = remaining.GetValueOrDefault(name) + count;
        await Send.OkAsync(new OrganizationResponse(deleted.Id, deleted.Slug, deleted.Name, deleted.CreatedAt, deleted.UpdatedAt)
        {
            DeletedAt = deleted.DeletedAt,
            Deletion = new OrganizationDeletionProgress(remaining, remaining.Values.All(v => v == 0)),
        }, ct);
    }
}
