using System.Security.Cryptography;
using System.Text;

namespace Backstop.Features.Bots;

/// <summary>
/// <c>Idempotency-Key</c> on <c>POST /v1/meetings</c>: a row per (organization, key) in
/// <c>meeting_idempotency_keys</c>, inserted in the meeting's own transaction, so the primary key decides between
/// concurrent requests with one key. The same key with the same request answers the first meeting (200, the first
/// answer's body); with another request 422 <c>idempotency_key_reused</c>. Keys are kept <see cref="Lifetime"/>.
/// </summary>
internal static class MeetingIdempotency
{
    public const string Header = "Idempotency-Key";

    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal sealed record KeyRow(string RequestHash, string MeetingId, string? Response);

    /// <summary>The header's value: null when absent; 400 <c>invalid_idempotency_key</c> unless 1–200 printable ASCII characters.</summary>
    public static string? Read(HttpContext context)
    {
        if (!context.Request.Headers.TryGetValue(Header, out var values)) return null;
        var key = values.ToString();
        if (key.Length is 0 or > 200 || values.Count != 1 || !key.All(c => c is >= ' ' and <= '~'))
            throw new ProblemException(400, "invalid_idempotency_key", "The Idempotency-Key header must be 1-200 printable ASCII characters.");
        return key;
    }

    /// <summary>
    /// What makes two creations "the same request": the fields as the endpoint reads them (so key order, spacing and
    /// the time zone of <c>joinAt</c> do not matter), hashed.
    /// </summary>
    public static string RequestHash(CreateMeetingRequest req)
    {
        var canonical = JsonSerializer.Serialize(new object?[]
        {
            req.Title.Trim(), req.MeetingUrl.Trim(), req.StartBot, req.JoinAt?.UtcTicks,
            string.IsNullOrWhiteSpace(req.ExternalUserId) ? null : req.ExternalUserId.Trim(),
        });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    public static Task<KeyRow?> FindAsync(DbConnection connection, string organizationId, string key, DateTimeOffset now, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(
            """
            select request_hash, meeting_id, response from meeting_idempotency_keys
            where organization_id = @organizationId and idempotency_key = @key and expires_at > @now
            """, new { organizationId, key, now }, cancellationToken: ct));

    /// <summary>
    /// Takes the key in the meeting's transaction (an expired row of the same key is replaced). A concurrent request
    /// with the same key fails this insert (unique violation) once the first commits.
    /// </summary>
    public static async Task TakeAsync(DbConnection connection, DbTransaction tx, string organizationId, string key, string requestHash, string meetingId,
        DateTimeOffset now, CancellationToken ct)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            "delete from meeting_idempotency_keys where organization_id = @organizationId and idempotency_key = @key and expires_at <= @now",
            new { organizationId, key, now }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into meeting_idempotency_keys (organization_id, idempotency_key, request_hash, meeting_id, response, created_at, expires_at)
            values (@organizationId, @key, @requestHash, @meetingId, null, @now, @expires)
            """, new { organizationId, key, requestHash, meetingId, now, expires = now + Lifetime }, tx, cancellationToken: ct));
    }

    /// <summary>Stores the first answer, so a repetition answers the same body.</summary>
    public static async Task AnsweredAsync(Db db, string organizationId, string key, string meetingId, MeetingResponse response, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update meeting_idempotency_keys set response = @response
            where organization_id = @organizationId and idempotency_key = @key and meeting_id = @meetingId
            """, new { organizationId, key, meetingId, response = JsonSerializer.Serialize(response, Json) }, cancellationToken: ct));
    }

    /// <summary>
    /// Gives the key back when its meeting is gone (a bot start Recall refused removes the meeting it created): the
    /// client may retry with the same key.
    /// </summary>
    public static async Task ReleaseIfMeetingGoneAsync(Db db, string organizationId, string key, string meetingId)
    {
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync(new CommandDefinition(
            """
            delete from meeting_idempotency_keys
            where organization_id = @organizationId and idempotency_key = @key and meeting_id = @meetingId
              and not exists (select 1 from meetings where id = @meetingId)
            """, new { organizationId, key, meetingId }));
    }

    public static MeetingResponse? Parse(string? response) =>
        response is null ? null : JsonSerializer.Deserialize<MeetingResponse>(response, Json);

    /// <summary>Deletes the expired keys, at most <paramref name="limit"/> of them; answers how many.</summary>
    public static Task<int> PruneAsync(DbConnection connection, DateTimeOffset now, int limit, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            delete from meeting_idempotency_keys
            where (organization_id, idempotency_key) in (
                select organization_id, idempotency_key from meeting_idempotency_keys where expires_at <= @now order by expires_at limit @limit)
            """, new { now, limit }, cancellationToken: ct));
}
