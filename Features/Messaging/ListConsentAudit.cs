using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;

namespace Backstop.Features.Messaging;

public sealed record ConsentAuditView
{
    public string Id { get; init; } = "";
    public string PhoneNumber { get; init; } = "";
    public string Action { get; init; } = "";
    public string Method { get; init; } = "";
    public string? Keyword { get; init; }
    public string? MessageSid { get; init; }
    /// <summary>False when the change was skipped because a message received later had already set the number's consent.</summary>
    public bool Applied { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

public sealed record ListConsentAuditRequest : PageRequest
{
    [QueryParam] public string? PhoneNumber { get; init; }
}

/// <summary><c>GET /v1/admin/sms/consent-audit?phoneNumber=</c>: every consent change, newest first.</summary>
public sealed class ListConsentAudit(Db db) : Endpoint<ListConsentAuditRequest, Page<ConsentAuditView>>
{
    public override void Configure()
    {
        Get("/v1/admin/sms/consent-audit");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "The SMS consent audit trail: number, action, method, message SID, whether it was applied, time (newest first, paginated).");
    }

    public sealed class Validator : Validator<ListConsentAuditRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListConsentAuditRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await Send.OkAsync(await connection.PageAsync<ConsentAuditView>(
            "select id, phone_number, action, method, keyword, message_sid, applied, created_at from sms_consent_audit",
            "@PhoneNumber is null or phone_number = @PhoneNumber", new { req.PhoneNumber }, req, r => r.Id, ct), ct);
    }
}
