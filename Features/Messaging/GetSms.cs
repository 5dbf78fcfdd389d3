using FastEndpoints;

namespace Backstop.Features.Messaging;

internal sealed record GetSmsRequest
{
    public string Id { get; init; } = "";
}

internal sealed record SmsView
{
    public string Id { get; init; } = "";
    public string Kind { get; init; } = "";
    public string To { get; init; } = "";
    public string Status { get; init; } = "";
    public string? ProviderSid { get; init; }
    public string? Error { get; init; }
    public string? ErrorCode { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary><c>GET /v1/sms/{id}</c>: the message's status (<c>queued</c>, <c>sent</c>, <c>delivered</c>, <c>failed</c>).</summary>
internal sealed class GetSms(Db db) : Endpoint<GetSmsRequest, SmsView>
{
    public override void Configure()
    {
        Get("/v1/sms/{id}");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "An SMS and its delivery status as reported by Twilio's status callbacks.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(GetSmsRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<SmsView>(new CommandDefinition(
            """
            select id, kind, to_number as "to", status, provider_sid, error, error_code, created_at, updated_at
            from sms_messages where id = @Id and organization_id = @organizationId
            """, new { req.Id, organizationId = User.OrganizationId() }, cancellationToken: ct));
        if (row is null) throw ProblemException.NotFound($"SMS '{req.Id}'");
        await Send.OkAsync(row, ct);
    }
}
