using System.Security.Claims;
using System.Text.Json.Nodes;

namespace Backstop.Infrastructure.Audit;

internal sealed class AuditLog(Db db, TimeProvider time, IHttpContextAccessor http) : IAuditLog
{
    public const string SystemActor = "system";
    private const string Redacted = "[redacted]";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // Property names that hold a secret wherever they appear; a caller's mistake must not put one in the log.
    private static readonly HashSet<string> SecretNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "key", "apiKey", "secret", "password", "token", "hash", "keyHash", "code", "authToken",
    };

    public async Task RecordAsync(DbConnection connection, DbTransaction transaction, AuditEntry entry, CancellationToken ct)
    {
        if (!AuditActions.All.Contains(entry.Action))
            throw new ArgumentException($"Audit action '{entry.Action}' is not one of AuditActions.All.", nameof(entry));
        var now = time.GetUtcNow();
        var context = http.HttpContext;
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into audit_log (id, occurred_at, actor, action, target_type, target_id, organization_id, request_id, client_request_id, changes, created_at)
            values (@id, @now, @actor, @Action, @TargetType, @TargetId, @OrganizationId, @requestId, @clientRequestId, @changes, @now)
            """,
            new
            {
                id = Ids.New(time), now, actor = ActorOf(context?.User, entry.Actor), entry.Action, entry.TargetType, entry.TargetId,
                entry.OrganizationId,
                requestId = context is null ? null : Observability.ObservabilityExtensions.OwnRequestId(context),
                clientRequestId = context?.Features.Get<Observability.ObservabilityExtensions.ClientRequestId>()?.Client,
                changes = Serialize(entry.Changes),
            }, transaction, cancellationToken: ct));
    }

    public Task RecordAsync(AuditEntry entry, CancellationToken ct) =>
        db.InTransactionAsync((c, tx) => RecordAsync(c, tx, entry, ct), ct);

    /// <summary>The admin key is <c>admin</c>; a tenant key is its public prefix (<c>bsk_live_…</c>), never the key.</summary>
    internal static string ActorOf(ClaimsPrincipal? user, string? fallback)
    {
        if (user?.Identity?.IsAuthenticated == true)
        {
            // A console session: the operator key's name (console:<name>), whatever its role.
            if (OperatorConsole.ConsoleAuth.ActorOf(user) is { } console) return console;
            if (user.IsInRole(BackstopClaims.AdminRole)) return "admin";
            if (user.FindFirstValue(BackstopClaims.OrganizationId) is not null && user.FindFirstValue(ClaimTypes.Name) is { Length: > 0 } prefix)
                return prefix;
        }
        return fallback ?? SystemActor;
    }

    private static string? Serialize(object? changes)
    {
        if (changes is null) return null;
        var node = JsonSerializer.SerializeToNode(changes, Json);
        Redact(node);
        return node?.ToJsonString(Json);
    }

    private static void Redact(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var name in obj.Select(p => p.Key).ToList())
                {
                    if (SecretNames.Contains(name)) obj[name] = Redacted;
                    else Redact(obj[name]);
                }
                break;
            case JsonArray array:
                foreach (var item in array) Redact(item);
                break;
        }
    }
}
