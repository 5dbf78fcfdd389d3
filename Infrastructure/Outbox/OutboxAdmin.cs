using FastEndpoints;

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

internal sealed record RetryOutboxRequest
{
    public string Id { get; init; } = "";
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
