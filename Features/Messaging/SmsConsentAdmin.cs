using Backstop.Infrastructure.Audit;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Features.Messaging;

public sealed record OptOutView
{
    public string Id { get; init; } = "";
    public string PhoneNumber { get; init; } = "";
    public string Method { get; init; } = "";
    public DateTimeOffset OptedOutAt { get; init; }
}

public sealed record ListOptOutsRequest : PageRequest
{
    /// <summary>Any format <c>/v1/sms</c> accepts; normalised to E.164 before matching.</summary>
    [QueryParam] public string? PhoneNumber { get; init; }
}

internal static class PhoneFilter
{
    /// <summary>
    /// The filter as E.164, or null when it is no number. A '+' typed unescaped in a query string arrives as a space
    /// (<c>?phoneNumber=+14155552671</c> reads " 14155552671"); it is read back as the '+' it was.
    /// </summary>
    public static string? Normalize(PhoneNumberNormalizer phones, string? raw)
    {
        if (raw is null) return null;
        var text = raw.Length > 1 && raw[0] == ' ' && char.IsAsciiDigit(raw.TrimStart()[0]) ? "+" + raw.TrimStart() : raw;
        return phones.ToE164(text);
    }
}

public sealed record ListOptOutsResponse(IReadOnlyList<OptOutView> Items, string? NextCursor);

/// <summary><c>GET /v1/admin/sms/opt-outs</c>: numbers that must not be sent SMS, newest first.</summary>
public sealed class ListOptOuts(Db db, PhoneNumberNormalizer phones) : Endpoint<ListOptOutsRequest, ListOptOutsResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/sms/opt-outs");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List opted-out phone numbers (newest first, paginated).");
    }

    public sealed class Validator : Validator<ListOptOutsRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            var phones = Resolve<PhoneNumberNormalizer>();
            RuleFor(r => r.PhoneNumber).Must(p => p is null || PhoneFilter.Normalize(phones, p) is not null).WithErrorCode("invalid_phone_number")
                .WithMessage("phoneNumber is not a phone number (E.164 such as +14155552671, or national with Messaging:DefaultRegion set).");
        }
    }

    public override async Task HandleAsync(ListOptOutsRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = (await connection.QueryAsync<OptOutView>(new CommandDefinition(
            """
            select id, phone_number, method, opted_out_at from sms_opt_outs
            where (@PhoneNumber is null or phone_number = @PhoneNumber) and (@After is null or id < @After)
            order by id desc
            limit @Limit
            """, new { PhoneNumber = PhoneFilter.Normalize(phones, req.PhoneNumber), req.After, Limit = req.Take + 1 }, cancellationToken: ct))).ToList();
        var page = Paging.Of(rows, req.Take, r => r.Id);
        await Send.OkAsync(new ListOptOutsResponse(page.Items, page.NextCursor), ct);
    }
}

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
    /// <summary>Any format <c>/v1/sms</c> accepts; normalised to E.164 before matching.</summary>
    [QueryParam] public string? PhoneNumber { get; init; }
}

public sealed record ListConsentAuditResponse(IReadOnlyList<ConsentAuditView> Items, string? NextCursor);

/// <summary><c>GET /v1/admin/sms/consent-audit?phoneNumber=</c>: every consent change, newest first.</summary>
public sealed class ListConsentAudit(Db db, PhoneNumberNormalizer phones) : Endpoint<ListConsentAuditRequest, ListConsentAuditResponse>
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
        var rows = (await connection.QueryAsync<ConsentAuditView>(new CommandDefinition(
            """
            select id, phone_number, action, method, keyword, message_sid, applied, created_at from sms_consent_audit
            where (@PhoneNumber is null or phone_number = @PhoneNumber) and (@After is null or id < @After)
            order by id desc
            limit @Limit
            """, new { PhoneNumber = PhoneFilter.Normalize(phones, req.PhoneNumber), req.After, Limit = req.Take + 1 }, cancellationToken: ct))).ToList();
        var page = Paging.Of(rows, req.Take, r => r.Id);
        await Send.OkAsync(new ListConsentAuditResponse(page.Items, page.NextCursor), ct);
    }
}

public sealed record OrganizationSmsSettingsRequest
{
    public string OrganizationId { get; init; } = "";
    public bool? SmsEnabled { get; init; }
}

public sealed record OrganizationSmsSettingsQuery
{
    public string OrganizationId { get; init; } = "";
}

public sealed record OrganizationSmsSettings(string OrganizationId, bool SmsEnabled);

/// <summary><c>GET /v1/admin/organizations/{organizationId}/sms-settings</c>: SMS is enabled unless an operator disabled it.</summary>
public sealed class GetOrganizationSmsSettings(Db db) : Endpoint<OrganizationSmsSettingsQuery, OrganizationSmsSettings>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations/{organizationId}/sms-settings");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Whether an organization may send SMS.");
    }

    public override async Task HandleAsync(OrganizationSmsSettingsQuery req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var enabled = await connection.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            "select sms_enabled from organization_sms_settings where organization_id = @OrganizationId", new { req.OrganizationId }, cancellationToken: ct));
        await Send.OkAsync(new OrganizationSmsSettings(req.OrganizationId, enabled ?? true), ct);
    }
}

/// <summary><c>PUT /v1/admin/organizations/{organizationId}/sms-settings</c> <c>{ "smsEnabled": false }</c>.</summary>
public sealed class PutOrganizationSmsSettings(Db db, TimeProvider time, IAuditLog audit) : Endpoint<OrganizationSmsSettingsRequest, OrganizationSmsSettings>
{
    public override void Configure()
    {
        Put("/v1/admin/organizations/{organizationId}/sms-settings");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Enable or disable SMS for an organization.");
    }

    public sealed class Validator : Validator<OrganizationSmsSettingsRequest>
    {
        public Validator()
        {
            RuleFor(r => r.SmsEnabled).NotNull().WithMessage("smsEnabled is required (true or false).");
            RuleFor(r => r.OrganizationId).NotEmpty().MaximumLength(100);
        }
    }

    public override async Task HandleAsync(OrganizationSmsSettingsRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var enabled = req.SmsEnabled!.Value;
        await db.InTransactionAsync(async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into organization_sms_settings (organization_id, sms_enabled, created_at, updated_at)
                values (@OrganizationId, @enabled, @now, @now)
                on conflict (organization_id) do update set sms_enabled = excluded.sms_enabled, updated_at = excluded.updated_at
                """, new { req.OrganizationId, enabled, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SmsSettingsUpdate, "organization_sms_settings", req.OrganizationId,
                req.OrganizationId, new { smsEnabled = enabled }), ct);
        }, ct);
        await Send.OkAsync(new OrganizationSmsSettings(req.OrganizationId, enabled), ct);
    }
}
