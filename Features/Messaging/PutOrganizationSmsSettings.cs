using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Features.Messaging;

public sealed record OrganizationSmsSettingsRequest
{
    public string OrgId { get; init; } = "";
    public bool? SmsEnabled { get; init; }
}

/// <summary><c>PUT /v1/admin/organizations/{orgId}/sms-settings</c> <c>{ "smsEnabled": false }</c>.</summary>
public sealed class PutOrganizationSmsSettings(Db db, IOrganizationDirectory organizations, TimeProvider time) : Endpoint<OrganizationSmsSettingsRequest, OrganizationSmsSettings>
{
    public override void Configure()
    {
        Put("/v1/admin/organizations/{orgId}/sms-settings");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Enable or disable SMS for an organization.");
        Description(d => d.Problems(404));
    }

    public sealed class Validator : Validator<OrganizationSmsSettingsRequest>
    {
        public Validator()
        {
            RuleFor(r => r.SmsEnabled).NotNull().WithMessage("smsEnabled is required (true or false).");
            RuleFor(r => r.OrgId).NotEmpty().MaximumLength(100);
        }
    }

    public override async Task HandleAsync(OrganizationSmsSettingsRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenAsync(ct);
        // A setting for an organization that does not exist would be stored and never used: refuse it. A deletion
        // racing this request leaves at most one orphaned row, harmless and never read for a deleted organization.
        if (!await organizations.ExistsAsync(connection, req.OrgId, ct)) throw ProblemException.NotFound("Organization");
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into organization_sms_settings (organization_id, sms_enabled, created_at, updated_at)
            values (@OrgId, @enabled, @now, @now)
            on conflict (organization_id) do update set sms_enabled = excluded.sms_enabled, updated_at = excluded.updated_at
            """, new { req.OrgId, enabled = req.SmsEnabled!.Value, now }, cancellationToken: ct));
        await Send.OkAsync(new OrganizationSmsSettings(req.OrgId, req.SmsEnabled.Value), ct);
    }
}
