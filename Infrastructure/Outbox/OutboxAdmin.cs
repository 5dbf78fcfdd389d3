using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Infrastructure.Outbox;

public sealed record ListOutboxRequest : PageRequest
{
    /// <summary><c>pending</c>, <c>sending</c>, <c>sent</c> or <c>dead</c>.</summary>
    [QueryParam] public string? Status { get; init; }

    [QueryParam] public string? Channel { get; init; }
}

/// <summary>An outbox message as operators see it. The payload is left out: it can hold one-time codes.</summary>
public sealed record OutboxMessageView
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
public sealed class ListOutbox(Db db) : Endpoint<ListOutboxRequest, Page<OutboxMessageView>>
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
            RuleFor(r => r.Status).Must(s => s is null or OutboxStatus.Pending or OutboxStatus.Sending or OutboxStatus.Sent or OutboxStatus.Dead)
                .WithMessage("status must be pending, sending, sent or dead.");
            RuleFor(r => r.Channel).MaximumLength(50);
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
            "(@Status is null or status = @Status) and (@Channel is null or channel = @Channel)", new { req.Status, req.Channel }, req, r => r.Id, ct), ct);
    }
}

public sealed record RetryOutboxRequest
{
    public string Id { get; init; } = "";
}

/// <summary><c>POST /v1/admin/outbox/{id}/retry</c>: a dead message gets a fresh set of attempts, due now.</summary>
public sealed class RetryOutboxMessage(Db db, TimeProvider time, OutboxSignal signal) : Endpoint<RetryOutboxRequest, OutboxMessageView>
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
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<OutboxMessageView>(new CommandDefinition(
            """
            update outbox_messages
            set status = 'pending', attempts = 0, next_attempt_at = @now, last_error = null, updated_at = @now
            where id = @Id and status = 'dead'
            returning id, channel, status, idempotency_key, reference, attempts, max_attempts, next_attempt_at, last_error,
                      provider_id, correlation_id, sent_at, created_at, updated_at
            """, new { req.Id, now }, cancellationToken: ct));
        if (row is null)
        {
            var status = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "select status from outbox_messages where id = @Id", new { req.Id }, cancellationToken: ct));
            if (status is null) throw ProblemException.NotFound($"Outbox message '{req.Id}'");
            throw new ProblemException(409, "outbox_message_not_dead", $"Only dead messages can be retried; this one is {status}.");
        }
        signal.Notify();
        await Send.OkAsync(row, ct);
    }
}

public sealed record GetOutboxRequest
{
    public string Id { get; init; } = "";
}

public sealed record OutboxAttemptView
{
    public int Attempt { get; init; }
    public string Outcome { get; init; } = "";
    public string? Error { get; init; }
    public long? RetryAfterMs { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
}

public sealed record OutboxMessageDetail(OutboxMessageView Message, IReadOnlyList<OutboxAttemptView> Attempts);

/// <summary><c>GET /v1/admin/outbox/{id}</c>: one message and every delivery attempt it had.</summary>
public sealed class GetOutboxMessage(Db db) : Endpoint<GetOutboxRequest, OutboxMessageDetail>
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
