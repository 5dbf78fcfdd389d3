using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record SendSmsRequest
{
    public string To { get; init; } = "";
    public string Body { get; init; } = "";
}

internal sealed record SendSmsResponse(string Id, string Status, string To);

/// <summary><c>POST /v1/sms</c>: queues an SMS through the outbox; 202 with its id.</summary>
internal sealed class SendSms(Db db, SmsQueue queue, PhoneNumberNormalizer phones, IAuditLog audit) : Endpoint<SendSmsRequest, SendSmsResponse>
{
    public override void Configure()
    {
        Post("/v1/sms");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Send an SMS (queued; 202 with its id). Refused for opted-out recipients, organizations with SMS disabled, destinations not allowed (403 destination_not_allowed), over the sms_segments quota (403 quota_exceeded) or the organization's send rate (429 rate_limited).");
        Description(d => d.Answers<SendSmsResponse>(202).Problems(503));
    }

    public sealed class Validator : Validator<SendSmsRequest>
    {
        public Validator(PhoneNumberNormalizer phones)
        {
            RuleFor(r => r.To).Must(to => phones.ToE164(to) is not null).WithErrorCode("invalid_phone_number")
                .WithMessage("to must be a valid phone number, ideally in E.164 form (+14155550123).");
            RuleFor(r => r.Body).NotEmpty().WithMessage("body is required.")
                .MaximumLength(1600).WithMessage("body must be at most 1600 characters.");
        }
    }

    public override async Task HandleAsync(SendSmsRequest req, CancellationToken ct)
    {
        queue.EnsureConfigured();
        var organizationId = User.OrganizationId();
        var to = phones.ToE164(req.To)!;
        var quota = await queue.PrepareAsync(organizationId, ct);
        var id = await db.InTransactionAsync(async (c, tx) =>
        {
            var smsId = await queue.QueueAsync(c, tx, quota, to, req.Body, "sms", req.Body, sensitive: false, ct);
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SmsSend, "sms_message", smsId, organizationId,
                new { to = Recipients.Mask(to), segments = SmsSegments.Count(req.Body) }), ct);
            return smsId;
        }, ct);
        await Send.ResponseAsync(new SendSmsResponse(id, SmsStatus.Queued, to), 202, ct);
    }
}
