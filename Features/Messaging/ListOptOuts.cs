using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record OptOutView
{
    public string Id { get; init; } = "";
    public string PhoneNumber { get; init; } = "";
    public string Method { get; init; } = "";
    public DateTimeOffset OptedOutAt { get; init; }
}

internal sealed record ListOptOutsRequest : PageRequest
{
    /// <summary>Any format <c>/v1/sms</c> accepts; normalised to E.164 before matching.</summary>
    [QueryParam] public string? PhoneNumber { get; init; }
}

/// <summary><c>GET /v1/admin/sms/opt-outs</c>: numbers that must not be sent SMS, newest first.</summary>
internal sealed class ListOptOuts(Db db, PhoneNumberNormalizer phones) : Endpoint<ListOptOutsRequest, Page<OptOutView>>
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
        await Send.OkAsync(await connection.PageAsync<OptOutView>("select id, phone_number, method, opted_out_at from sms_opt_outs",
            "@PhoneNumber is null or phone_number = @PhoneNumber", new { PhoneNumber = PhoneFilter.Normalize(phones, req.PhoneNumber) }, req, r => r.Id, ct), ct);
    }
}
