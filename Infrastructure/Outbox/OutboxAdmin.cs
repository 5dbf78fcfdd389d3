using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Audit;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Infrastructure.Outbox;

internal sealed record ListOutboxRequest : PageRequest
{
    /// <summary><c>pending</c>, <c>sending</c>, <c>sent</c> or <c>dead</c>.</summary>
    [QueryParam] public string? Status { get; init; }

    /// <summary>A registered channel: <c>email</c> or <c>sms</c> (case-insensitive).</summary>
    [QueryParam] public string? Channel { get; init; }

    internal string? NormalizedStatus => Status?.Trim().ToLowerInvariant();
    internal string? NormalizedChannel => Channel?.Trim().ToLowerInvariant();
}

/// <summary>An outbox message as operators see it. The payload is left out: it can hold one-time codes.</summary>
internal sealed record OutboxMessageView
{
    public string Id { get; init; } = "";
    public string Channel { get; init; } = "";
    public string Status { get; init; } = "";
    public string IdempotencyKey { get; init; } = "";
    public string? Reference { get; init; }
    public int Attempts { get; init; }
    public int MaxAttempts { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; }
    public string? LastError { get; init; }
    public string? ProviderId { get; init; }
    public string? CorrelationId { get; init; }
    public DateTimeOffset? SentAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}


/// <summary><c>GET /v1/admin/outbox?status=&amp;channel=</c>: outbox messages, newest first, paginated.</summary>
internal sealed class ListOutbox(Db db) : Endpoint<ListOutboxRequest, Page<OutboxMessageView>>
{
    public override void Configure()
    {
        Get("/v1/admin/outbox");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List outbox messages (newest first, paginated), optionally by status and channel.");
    }

    public sealed class Validator : Validator<ListOutboxRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.NormalizedStatus).Must(s => s is null or OutboxStatus.Pending or OutboxStatus.Sending or OutboxStatus.Sent or OutboxStatus.Dead)
                .OverridePropertyName("status").WithMessage("status must be pending, sending, sent or dead.");
            var channels = Resolve<IEnumerable<IOutboxChannel>>().Select(c => c.Name.ToLowerInvariant()).Order().ToArray();
            RuleFor(r => r.NormalizedChannel).Must(c => c is null || channels.Contains(c)).OverridePropertyName("channel")
                .WithMessage("channel must be one of " + string.Join(", ", channels) + ".");
        }
    }

    public override async Task HandleAsync(ListOutboxRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await Send.OkAsync(await connection.PageAsync<OutboxMessageView>(
            """
            select id, channel, status, idempotency_key, reference, attempts, max_attempts, next_attempt_at, last_error,
                   provider_id, correlation_id, sent_at, created_at, updated_at
            from outbox_messages
            """,
            // Only the filters given (SQLite cannot use an index for "(@Status is null or status = @Status)"; #29).
            string.Join(" and ", new[] { req.NormalizedStatus is null ? null : "status = @Status", req.NormalizedChannel is null ? null : "channel = @Channel" }
                .Where(c => c is not null).DefaultIfEmpty("1 = 1")), new { Status = req.NormalizedStatus, Channel = req.NormalizedChannel }, req, r => r.Id, ct), ct);
    }
}

internal sealed record RetryOutboxRequest
{
    public string Id { get; init; } = "";
}

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

internal sealed record GetOutboxRequest
{
    public string Id { get; init; } = "";
}

internal sealed record OutboxAttemptView
{
    public int Attempt { get; init; }
    public string Outcome { get; init; } = "";
    public string? Error { get; init; }
    public long? RetryAfterMs { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
}

internal sealed record OutboxMessageDetail(OutboxMessageView Message, IReadOnlyList<OutboxAttemptView> Attempts);

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
