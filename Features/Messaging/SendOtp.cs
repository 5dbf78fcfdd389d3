using Backstop.Features.Messaging.Templates;
using Backstop.Infrastructure.Outbox.Email;
using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record SendOtpRequest
{
    /// <summary><c>sms</c> or <c>email</c>.</summary>
    public string Channel { get; init; } = "";
    public string To { get; init; } = "";
}

internal sealed record SendOtpResponse(string Id, string Channel, DateTimeOffset ExpiresAt);

/// <summary><c>POST /v1/otp</c>: sends a 6-digit code by SMS or email; only its hash is stored.</summary>
internal sealed class SendOtp(Db db, OneTimeCodes codes, SmsQueue sms, IOutbox outbox, IAuditLog audit, IOptions<MessagingOptions> options, TimeProvider time)
    : Endpoint<SendOtpRequest, SendOtpResponse>
{
    public override void Configure()
    {
        Post("/v1/otp");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Send a one-time code (6 digits, 10 minutes, 5 attempts). Limited per recipient and per organization, and instance-wide (429 rate_limited); SMS codes count sms_segments and obey the destination rules (403).");
        Description(d => d.Answers<SendOtpResponse>(202).Problems(429, 503));
    }

    public sealed class Validator : FastEndpoints.Validator<SendOtpRequest>
    {
        public Validator(OneTimeCodes codes)
        {
            RuleFor(r => r.Channel).Must(c => c is "sms" or "email").WithMessage("channel must be 'sms' or 'email'.");
            RuleFor(r => r.To).Must(to => codes.Identifier(to) is { } id && !id.Contains('@'))
                .When(r => r.Channel == "sms").WithErrorCode("invalid_phone_number")
                .WithMessage("to must be a valid phone number, ideally in E.164 form (+14155550123).");
            RuleFor(r => r.To).Must(to => codes.Identifier(to) is { } id && id.Contains('@'))
                .When(r => r.Channel == "email").WithMessage("to must be an email address.");
        }
    }

    public override async Task HandleAsync(SendOtpRequest req, CancellationToken ct)
    {
        if (req.Channel == "sms") sms.EnsureConfigured();
        var organizationId = User.OrganizationId();
        var identifier = codes.Identifier(req.To)!;
        var o = options.Value.Otp;
        var id = Ids.New(time);
        var code = OneTimeCodes.NewCode();
        var now = time.GetUtcNow();
        var expiresAt = now.AddMinutes(o.LifetimeMinutes);

        var quota = req.Channel == "sms" ? await sms.PrepareAsync(organizationId, ct) : null;
        await db.InTransactionAsync(async (c, tx) =>
        {
            await codes.TakeSendSlotAsync(c, tx, organizationId, identifier, ct);
            await c.ExecuteAsync(new CommandDefinition(
                """
                insert into otp_codes (id, organization_id, identifier, channel, code_hash, expires_at, attempts, max_attempts, created_at, updated_at)
                values (@id, @organizationId, @identifier, @Channel, @hash, @expiresAt, 0, @MaxAttempts, @now, @now)
                """, new { id, organizationId, identifier, req.Channel, hash = OneTimeCodes.Hash(id, code), expiresAt, o.MaxAttempts, now }, tx, cancellationToken: ct));
            if (req.Channel == "sms")
                await sms.QueueAsync(c, tx, quota!, identifier, OneTimeCodeEmail.Sms(code, o.LifetimeMinutes), "otp", storedBody: null, sensitive: true, ct);
            else
                await outbox.EnqueueAsync(c, tx, OutboxEmail.Create($"otp:{id}", identifier, OneTimeCodeEmail.Render(code, o.LifetimeMinutes), reference: id, sensitive: true), ct);
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.OtpSend, "otp_code", id, organizationId,
                new { req.Channel, to = Recipients.Mask(identifier) }), ct);
        }, ct);

        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(new SendOtpResponse(id, req.Channel, expiresAt), 202, ct);
    }
}
