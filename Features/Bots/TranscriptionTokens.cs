using Backstop.Infrastructure.Providers.Deepgram;

namespace Backstop.Features.Bots;

/// <summary>
/// The callback tokens of this slice's transcription requests, found by their SHA-256 (the token itself is never
/// stored). A token names its transcription; it is valid until <c>token_expires_at</c>
/// (<c>Deepgram:CallbackTokenHours</c> after it was issued) and, once its transcription completed, still accepted
/// so that a repeated callback is answered 200, but bound to that completed transcription it changes nothing.
/// </summary>
internal sealed class TranscriptionTokens(Db db, IOptions<DeepgramOptions> options, TimeProvider time) : IDeepgramCallbackTokens
{
    private sealed record TokenRow(string Id, string Status, DateTimeOffset? TokenExpiresAt, DateTimeOffset CreatedAt);

    public async ValueTask<DeepgramTokenGrant?> GrantOfAsync(string token, CancellationToken ct)
    {
        if (token.Length is < 20 or > 200) return null;
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TokenRow>(new CommandDefinition(
            "select id, status, token_expires_at, created_at from transcriptions where token_hash = @hash",
            new { hash = Secrets.Hash(token) }, cancellationToken: ct));
        if (row is null) return null;
        if (row.Status == "completed") return new DeepgramTokenGrant(row.Id, Completed: true);
        var expiresAt = row.TokenExpiresAt ?? row.CreatedAt.AddHours(options.Value.CallbackTokenHours);
        return expiresAt <= time.GetUtcNow() ? null : new DeepgramTokenGrant(row.Id, Completed: false);
    }

    /// <summary>When a token issued now expires.</summary>
    public static DateTimeOffset ExpiryOf(DateTimeOffset now, DeepgramOptions options) => now.AddHours(options.CallbackTokenHours);
}
