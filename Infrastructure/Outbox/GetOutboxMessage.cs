using FastEndpoints;

namespace Backstop.Infrastructure.Outbox;

/// <summary><c>GET /v1/admin/outbox/{id}</c>: one message and every delivery attempt it had.</summary>
internal sealed class GetOutboxMessage(Db db) : Endpoint<GetOutboxRequest, OutboxMessageDetail>
{
    public override void Configure()
    {
        Get("/v1/admin/outbox/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "An outbox message with its delivery attempts (outcome, error, Retry-After).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(GetOutboxRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var message = await connection.QuerySingleOrDefaultAsync<OutboxMessageView>(new CommandDefinition(
            """
            select id, channel, status, idempotency_key, reference, attempts, max_attempts, next_attempt_at, last_error,
                   provider_id, correlation_id, sent_at, created_at, updated_at
            from outbox_messages where id = @Id
            """, new { req.Id }, cancellationToken: ct)) ?? throw ProblemException.NotFound($"Outbox message '{req.Id}'");
        var attempts = (await connection.QueryAsync<OutboxAttemptView>(new CommandDefinition(
            """
            select attempt, outcome, error, retry_after_ms, started_at, finished_at
            from outbox_attempts where message_id = @Id order by started_at, attempt
            """, new { req.Id }, cancellationToken: ct))).ToList();
        await Send.OkAsync(new OutboxMessageDetail(message, attempts), ct);
    }
}
