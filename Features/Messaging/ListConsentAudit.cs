using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record ConsentAuditView
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

internal sealed record ListConsentAuditRequest : PageRequest
{
    /// <summary>Any format <c>/v1/sms</c> accepts; normalised to E.164 before matching.</summary>
    [QueryParam] public string? PhoneNumber { get; init; }
}

/// <summary><c>GET /v1/admin/sms/consent-audit?phoneNumber=</c>: every consent change, newest first.</summary>
internal sealed class ListConsentAudit(Db db, PhoneNumberNormalizer phones) : Endpoint<ListConsentAuditRequest, Page<ConsentAuditView>>
{
    public override void Configure()
    {
        Get("/v1/admin/sms/consent-audit");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "The SMS consent audit trail: number, action, method, message SID, whether it was applied, time (newest first, paginated).");
    }

    public sealed class Validator : Validator<ListConsentAuditRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            var phones = Resolve<PhoneNumberNormalizer>();
            RuleFor(r => r.PhoneNumber).Must(p => p is null || PhoneFilter.Normalize(phones, p) is not null).WithErrorCode("invalid_phone_number")
                .WithMessage("phoneNumber is not a phone number (E.164 such as +14155552671, or national with Messaging:DefaultRegion set).");
        }
    }

    public override async Task HandleAsync(ListConsentAuditRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await Send.OkAsync(await connection.PageAsync<ConsentAuditView>(
            "select id, phone_number, action, method, keyword, message_sid, applied, created_at from sms_consent_audit",
            "@PhoneNumber is null or phone_number = @PhoneNumber", new { PhoneNumber = PhoneFilter.Normalize(phones, req.PhoneNumber) }, req, r => r.Id, ct), ct);
    }
}
