using FastEndpoints;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// <c>POST /v1/admin/outbox/{id}/retry</c>: a dead message gets a fresh set of attempts, due now. Attempt numbers
/// continue (the allowance is raised instead of the counter reset), so the history never shows two "attempt 1".
/// </summary>
internal sealed class RetryOutboxMessage(Db db, TimeProvider time, OutboxSignal signal, IAuditLog audit, Microsoft.Extensions.Options.IOptions<OutboxOptions> options) : Endpoint<RetryOutboxRequest, OutboxMessageView>
{
    public override void Configure()
    {
        Post("/v1/admin/outbox/{id}/retry");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Put a dead outbox message back in the queue with a fresh set of attempts.");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(RetryOutboxRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var channel = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "select channel from outbox_messages where id = @Id", new { req.Id }, tx, cancellationToken: ct))
                ?? throw ProblemException.NotFound($"Outbox message '{req.Id}'");
            var (allowance, _) = options.Value.ScheduleFor(channel);
            var retried = await connection.QuerySingleOrDefaultAsync<OutboxMessageView>(new CommandDefinition(
                """
                update outbox_messages
                set status = 'pending', max_attempts = attempts + @allowance, next_attempt_at = @now, last_error = null, updated_at = @now
                where id = @Id and status = 'dead'
                returning id, channel, status, idempotency_key, reference, attempts, max_attempts, next_attempt_at, last_error,
                          provider_id, correlation_id, sent_at, created_at, updated_at
                """, new { req.Id, now, allowance }, tx, cancellationToken: ct));
            if (retried is null)
            {
                var status = await connection.QuerySingleAsync<string>(new CommandDefinition(
                    "select status from outbox_messages where id = @Id", new { req.Id }, tx, cancellationToken: ct));
                throw new ProblemException(409, "outbox_message_not_dead", $"Only dead messages can be retried; this one is {status}.");
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.OutboxRetry, "outbox_message", retried.Id,
                Changes: new { status = new { from = "dead", to = "pending" }, retried.Channel, retried.Attempts, retried.MaxAttempts }), ct);
            return retried;
        }, ct);
        signal.Notify();
        await Send.OkAsync(row, ct);
    }
}
