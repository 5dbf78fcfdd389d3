using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record VerifyOtpRequest
{
    public string To { get; init; } = "";
    public string Code { get; init; } = "";
}

internal sealed record VerifyOtpResponse(bool Verified);

/// <summary>
/// <c>POST /v1/otp/verify</c>: checks the latest code sent to the recipient. The hash is compared in constant time;
/// the state change is one conditional update (not verified, not expired, attempts left) that spends an attempt
/// and, when the code matched, marks it verified — so of many concurrent correct verifications exactly one wins.
/// </summary>
internal sealed class VerifyOtp(Db db, OneTimeCodes codes, TimeProvider time) : Endpoint<VerifyOtpRequest, VerifyOtpResponse>
{
    public override void Configure()
    {
        Post("/v1/otp/verify");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Verify a one-time code: 200 once; a wrong code spends one of its attempts.");
    }

    public sealed class Validator : FastEndpoints.Validator<VerifyOtpRequest>
    {
        public Validator()
        {
            RuleFor(r => r.To).NotEmpty().MaximumLength(254).WithMessage("to is required.");
            RuleFor(r => r.Code).NotEmpty().MaximumLength(20).WithMessage("code is required.");
        }
    }

    private sealed record Candidate
    {
        public string Id { get; init; } = "";
        public string CodeHash { get; init; } = "";
    }

    private sealed record Outcome
    {
        public DateTimeOffset? VerifiedAt { get; init; }
    }

    public override async Task HandleAsync(VerifyOtpRequest req, CancellationToken ct)
    {
        var identifier = codes.Identifier(req.To) ?? throw Invalid();
        var organizationId = User.OrganizationId();
        var now = time.GetUtcNow();
        await using var connection = await db.OpenAsync(ct);
        // Reads only immutable columns (id, hash); whether the code may still be used is decided by the update below.
        var candidate = await connection.QuerySingleOrDefaultAsync<Candidate>(new CommandDefinition(
            """
            select id, code_hash from otp_codes
            where organization_id = @organizationId and identifier = @identifier
            order by id desc
            limit 1
            """, new { organizationId, identifier }, cancellationToken: ct)) ?? throw Invalid();

        var matched = Secrets.FixedTimeEquals(OneTimeCodes.Hash(candidate.Id, req.Code.Trim()), candidate.CodeHash);
        var outcome = await connection.QuerySingleOrDefaultAsync<Outcome>(new CommandDefinition(
            """
            update otp_codes
            set attempts = attempts + 1, verified_at = case when @matched then @now else verified_at end, updated_at = @now
            where id = @Id and verified_at is null and expires_at > @now and attempts < max_attempts
            returning verified_at
            """, new { candidate.Id, matched, now }, cancellationToken: ct));
        if (outcome?.VerifiedAt is null) throw Invalid();
        await Send.OkAsync(new VerifyOtpResponse(true), ct);
    }

    private static ProblemException Invalid() =>
        new(400, "invalid_code", "The code is wrong, expired, already used, or has no attempts left.");
}
