using Backstop.Features.ApiKeys;
using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record OrganizationSmsSettingsQuery
{
    public string OrgId { get; init; } = "";
}

internal sealed record OrganizationSmsSettings(string OrganizationId, bool SmsEnabled);

/// <summary><c>GET /v1/admin/organizations/{orgId}/sms-settings</c>: SMS is enabled unless an operator disabled it.</summary>
internal sealed class GetOrganizationSmsSettings(Db db, IOrganizationDirectory organizations) : Endpoint<OrganizationSmsSettingsQuery, OrganizationSmsSettings>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations/{orgId}/sms-settings");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Whether an organization may send SMS.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(OrganizationSmsSettingsQuery req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        if (!await organizations.ExistsAsync(connection, req.OrgId, ct)) throw ProblemException.NotFound("Organization");
        var enabled = await connection.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            "select sms_enabled from organization_sms_settings where organization_id = @OrgId", new { req.OrgId }, cancellationToken: ct));
        await Send.OkAsync(new OrganizationSmsSettings(req.OrgId, enabled ?? true), ct);
    }
}
