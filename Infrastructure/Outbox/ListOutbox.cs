using FastEndpoints;

namespace Backstop.Infrastructure.Outbox;

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
