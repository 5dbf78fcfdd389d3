namespace Backstop.Infrastructure.Events;

/// <summary>
/// Whose endpoints a call manages: the operator's (<see cref="OrganizationId"/> null: endpoints that receive every
/// organization's events, under <c>/v1/admin/event-endpoints</c>) or one organization's (only its own events, under
/// <c>/v1/event-endpoints</c>). Every statement is scoped by it, so another owner's endpoint answers 404.
/// </summary>
internal sealed record EndpointOwner(string? OrganizationId)
{
    public static readonly EndpointOwner Operator = new((string?)null);

    /// <summary>The key of the owner's row in <c>event_endpoint_counts</c>.</summary>
    public string CountKey => OrganizationId ?? "";

    /// <summary>The scope condition on <c>event_endpoints</c> (code, never input; the value is the <c>@organizationId</c> parameter).</summary>
    public string Scope => OrganizationId is null ? "organization_id is null" : "organization_id = @organizationId";
}

internal sealed record EventEndpointRow
{
    public string Id { get; init; } = "";
    public string? OrganizationId { get; init; }
    public string Url { get; init; } = "";
    public string? Description { get; init; }
    public string? EventTypes { get; init; }
    public bool Enabled { get; init; }
    public int? RateLimitPerSecond { get; init; }
    public string SecretProtected { get; init; } = "";
    public string? PreviousSecretProtected { get; init; }
    public DateTimeOffset? PreviousSecretExpiresAt { get; init; }
    public DateTimeOffset? FailingSince { get; init; }
    public DateTimeOffset? DisabledAt { get; init; }
    public string? DisabledReason { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>
/// An event endpoint as the API shows it: never its secret. <c>eventTypes</c> null means every type.
/// <c>previousSecretExpiresAt</c>: after a rotation, until when the previous secret still signs too.
/// </summary>
internal sealed record EventEndpointResponse(
    string Id, string? OrganizationId, string Url, string? Description, IReadOnlyList<string>? EventTypes, bool Enabled,
    int? RateLimitPerSecond, DateTimeOffset? FailingSince, DateTimeOffset? DisabledAt, string? DisabledReason,
    DateTimeOffset? PreviousSecretExpiresAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static EventEndpointResponse From(EventEndpointRow row, DateTimeOffset now) => new(
        row.Id, row.OrganizationId, row.Url, row.Description, EventPublisher.ParseFilter(row.EventTypes), row.Enabled,
        row.RateLimitPerSecond, row.FailingSince, row.DisabledAt, row.DisabledReason,
        row.PreviousSecretExpiresAt > now ? row.PreviousSecretExpiresAt : null, row.CreatedAt, row.UpdatedAt);
}

/// <summary>The only answers that carry an endpoint's signing secret: its creation and a rotation.</summary>
internal sealed record EventEndpointWithSecretResponse(EventEndpointResponse Endpoint, string Secret);

/// <summary>What a create or update asks for; null fields of an update are left as they are.</summary>
internal sealed record EventEndpointChanges(string? Url, IReadOnlyList<string>? EventTypes, string? Description, bool? Enabled, int? RateLimitPerSecond);

/// <summary>
/// Registering and managing event endpoints. Every statement is scoped by the <see cref="EndpointOwner"/>; every
/// change is audited in its own transaction; none publishes an event (only delivery's automatic disabling does).
/// </summary>
internal sealed class EventEndpointStore(Db db, TimeProvider time, IAuditLog audit, EventSecrets secrets, EventEndpointRules rules)
{
    /// <summary>
    /// Live endpoints per owner (each organization, and the operator). Every endpoint costs a fan-out row per event,
    /// so the limit bounds what one event can cost; 20 is far more than the few consumers an application has.
    /// </summary>
    public const int MaxEndpointsPerOwner = 20;

    /// <summary>How long a rotated-out secret stays valid and keeps signing next to the new one.</summary>
    public static readonly TimeSpan PreviousSecretValidity = TimeSpan.FromHours(24);

    public const string Columns =
        "id, organization_id, url, description, event_types, enabled, rate_limit_per_second, secret_protected, previous_secret_protected, " +
        "previous_secret_expires_at, failing_since, disabled_at, disabled_reason, created_at, updated_at";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<EventEndpointWithSecretResponse> CreateAsync(EndpointOwner owner, EventEndpointChanges request, CancellationToken ct)
    {
        var url = await rules.CheckUrlAsync(request.Url!, ct);
        var filter = rules.CheckFilter(request.EventTypes);
        var secret = EventSecrets.New();
        var now = time.GetUtcNow();
        var id = Ids.New(time);
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            await TakeSlotAsync(connection, tx, owner, now, ct);
            var enabled = request.Enabled ?? true;
            var created = await connection.QuerySingleAsync<EventEndpointRow>(new CommandDefinition(
                $"""
                insert into event_endpoints (id, organization_id, url, description, event_types, enabled, rate_limit_per_second,
                                             secret_protected, disabled_at, disabled_reason, created_at, updated_at)
                values (@id, @organizationId, @url, @description, @eventTypes, @enabled, @rateLimit, @secret,
                        @disabledAt, @disabledReason, @now, @now)
                returning {Columns}
                """,
                new
                {
                    id, organizationId = owner.OrganizationId, url, description = Clean(request.Description), eventTypes = filter, enabled,
                    rateLimit = request.RateLimitPerSecond is > 0 ? request.RateLimitPerSecond : null, secret = secrets.Protect(secret),
                    disabledAt = enabled ? (DateTimeOffset?)null : now, disabledReason = enabled ? null : DisabledManually, now,
                }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventEndpointCreate, "event_endpoint", id, owner.OrganizationId,
                new { url, eventTypes = EventPublisher.ParseFilter(filter), created.Description, enabled, created.RateLimitPerSecond }), ct);
            return created;
        }, ct);
        return new EventEndpointWithSecretResponse(EventEndpointResponse.From(row, now), secret);
    }

    /// <summary>Why an endpoint was disabled by its owner (delivery's automatic disabling gives its own reason).</summary>
    public const string DisabledManually = "disabled_by_owner";

    public async Task<Page<EventEndpointResponse>> ListAsync(EndpointOwner owner, PageRequest page, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.PageAsync<EventEndpointRow>($"select {Columns} from event_endpoints",
            owner.Scope + " and deleted_at is null", new { organizationId = owner.OrganizationId }, page, r => r.Id, ct);
        var now = time.GetUtcNow();
        return rows.Map(r => EventEndpointResponse.From(r, now));
    }

    public async Task<EventEndpointResponse> GetAsync(EndpointOwner owner, string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return EventEndpointResponse.From(await FindAsync(connection, null, owner, id, ct), time.GetUtcNow());
    }

    /// <summary>The owner's live endpoint, or 404 (another owner's endpoint, a deleted one, or none).</summary>
    public static async Task<EventEndpointRow> FindAsync(DbConnection connection, DbTransaction? tx, EndpointOwner owner, string id, CancellationToken ct) =>
        await connection.QuerySingleOrDefaultAsync<EventEndpointRow>(new CommandDefinition(
            $"select {Columns} from event_endpoints where id = @id and deleted_at is null and {owner.Scope}",
            new { id, organizationId = owner.OrganizationId }, tx, cancellationToken: ct))
        ?? throw ProblemException.NotFound("Event endpoint");

    public async Task<EventEndpointResponse> UpdateAsync(EndpointOwner owner, string id, EventEndpointChanges changes, CancellationToken ct)
    {
        var url = changes.Url is null ? null : await rules.CheckUrlAsync(changes.Url, ct);
        var filter = changes.EventTypes is null ? null : rules.CheckFilter(changes.EventTypes);
        var now = time.GetUtcNow();
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var before = await FindAsync(connection, tx, owner, id, ct);
            var enabling = changes.Enabled == true && !before.Enabled;
            var disabling = changes.Enabled == false && before.Enabled;
            var after = await connection.QuerySingleAsync<EventEndpointRow>(new CommandDefinition(
                $"""
                update event_endpoints
                set url = @url, event_types = @eventTypes, description = @description, rate_limit_per_second = @rateLimit,
                    enabled = @enabled,
                    disabled_at = case when @enabling then null when @disabling then @now else disabled_at end,
                    disabled_reason = case when @enabling then null when @disabling then @disabledReason else disabled_reason end,
                    failing_since = case when @enabling then null else failing_since end,
                    updated_at = @now
                where id = @id and deleted_at is null
                returning {Columns}
                """,
                new
                {
                    id, now, enabling, disabling, disabledReason = DisabledManually,
                    url = url ?? before.Url,
                    // An empty list (or ["*"]) is "every type", stored as null like a filter never given.
                    eventTypes = changes.EventTypes is null ? before.EventTypes : filter,
                    description = changes.Description is null ? before.Description : Clean(changes.Description),
                    rateLimit = changes.RateLimitPerSecond is null ? before.RateLimitPerSecond : changes.RateLimitPerSecond > 0 ? changes.RateLimitPerSecond : null,
                    enabled = changes.Enabled ?? before.Enabled,
                }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventEndpointUpdate, "event_endpoint", id, owner.OrganizationId,
                Diff(before, after)), ct);
            return after;
        }, ct);
        return EventEndpointResponse.From(row, now);
    }

    /// <summary>Soft delete: the endpoint gets nothing more (delivery skips a deleted endpoint's pending messages) and frees its slot.</summary>
    public async Task DeleteAsync(EndpointOwner owner, string id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var deleted = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                $"""
                update event_endpoints set deleted_at = @now, enabled = @disabled, updated_at = @now
                where id = @id and deleted_at is null and {owner.Scope}
                returning url
                """, new { id, now, disabled = false, organizationId = owner.OrganizationId }, tx, cancellationToken: ct))
                ?? throw ProblemException.NotFound("Event endpoint");
            await connection.ExecuteAsync(new CommandDefinition(
                "update event_endpoint_counts set live = live - 1, updated_at = @now where owner = @owner and live > 0",
                new { owner = owner.CountKey, now }, tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(
                $"update event_recoveries set status = '{EventRecoveryStatus.Cancelled}', finished_at = @now, updated_at = @now where endpoint_id = @id and status = '{EventRecoveryStatus.Running}'",
                new { id, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventEndpointDelete, "event_endpoint", id, owner.OrganizationId, new { url = deleted }), ct);
        }, ct);
    }

    /// <summary>
    /// A new secret, shown in this answer only. The current one becomes the previous secret: it stays valid, and
    /// delivery signs with both, for <see cref="PreviousSecretValidity"/> (a secret rotated out earlier is dropped).
    /// The update is conditional on the secret read, so two concurrent rotations cannot both succeed (409).
    /// </summary>
    public async Task<EventEndpointWithSecretResponse> RotateSecretAsync(EndpointOwner owner, string id, CancellationToken ct)
    {
        var secret = EventSecrets.New();
        var now = time.GetUtcNow();
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var before = await FindAsync(connection, tx, owner, id, ct);
            var after = await connection.QuerySingleOrDefaultAsync<EventEndpointRow>(new CommandDefinition(
                $"""
                update event_endpoints
                set previous_secret_protected = secret_protected, previous_secret_expires_at = @expires, secret_protected = @secret, updated_at = @now
                where id = @id and deleted_at is null and secret_protected = @current
                returning {Columns}
                """, new { id, now, expires = now + PreviousSecretValidity, secret = secrets.Protect(secret), current = before.SecretProtected },
                tx, cancellationToken: ct))
                ?? throw new ProblemException(409, "concurrent_rotation", "The endpoint's secret was rotated by another request at the same time; fetch it and try again.");
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventEndpointRotateSecret, "event_endpoint", id, owner.OrganizationId,
                new { previousSecretExpiresAt = after.PreviousSecretExpiresAt }), ct);
            return after;
        }, ct);
        return new EventEndpointWithSecretResponse(EventEndpointResponse.From(row, now), secret);
    }

    /// <summary>Enables the endpoint again and forgets its failing streak (<c>disabled_at</c>, <c>failing_since</c>): deliveries resume at once.</summary>
    public async Task<EventEndpointResponse> EnableAsync(EndpointOwner owner, string id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var before = await FindAsync(connection, tx, owner, id, ct);
            var after = await connection.QuerySingleAsync<EventEndpointRow>(new CommandDefinition(
                $"""
                update event_endpoints
                set enabled = @enabled, disabled_at = null, disabled_reason = null, failing_since = null, updated_at = @now
                where id = @id and deleted_at is null
                returning {Columns}
                """, new { id, now, enabled = true }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventEndpointEnable, "event_endpoint", id, owner.OrganizationId,
                new { enabled = new { from = before.Enabled, to = true }, before.DisabledAt, before.DisabledReason, before.FailingSince }), ct);
            return after;
        }, ct);
        return EventEndpointResponse.From(row, now);
    }

    /// <summary>
    /// Takes one of the owner's <see cref="MaxEndpointsPerOwner"/> slots with one conditional update of its count
    /// row (created on first use): the database decides, so concurrent creations never pass the limit.
    /// </summary>
    private static async Task TakeSlotAsync(DbConnection connection, DbTransaction tx, EndpointOwner owner, DateTimeOffset now, CancellationToken ct)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            "insert into event_endpoint_counts (owner, live, updated_at) values (@owner, 0, @now) on conflict (owner) do nothing",
            new { owner = owner.CountKey, now }, tx, cancellationToken: ct));
        var taken = await connection.ExecuteAsync(new CommandDefinition(
            "update event_endpoint_counts set live = live + 1, updated_at = @now where owner = @owner and live < @max",
            new { owner = owner.CountKey, now, max = MaxEndpointsPerOwner }, tx, cancellationToken: ct));
        if (taken == 0)
            throw new ProblemException(409, "endpoint_limit_reached",
                $"At most {MaxEndpointsPerOwner} event endpoints can exist at once; delete one before adding another.");
    }

    private static string? Clean(string? description) => string.IsNullOrWhiteSpace(description) ? null : description.Trim();

    private static object Diff(EventEndpointRow before, EventEndpointRow after)
    {
        var changes = new Dictionary<string, object?>();
        void Add<T>(string name, T from, T to)
        {
            if (!EqualityComparer<T>.Default.Equals(from, to)) changes[name] = new { from, to };
        }
        Add("url", before.Url, after.Url);
        Add("eventTypes", before.EventTypes, after.EventTypes);
        Add("description", before.Description, after.Description);
        Add("enabled", before.Enabled, after.Enabled);
        Add("rateLimitPerSecond", before.RateLimitPerSecond, after.RateLimitPerSecond);
        return changes;
    }

    public static string? SerializeFilter(IReadOnlyList<string>? filter) =>
        filter is null || filter.Count == 0 || filter.Contains("*") ? null : JsonSerializer.Serialize(filter.Distinct(StringComparer.Ordinal), Json);
}
