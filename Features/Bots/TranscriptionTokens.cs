using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Providers.Deepgram;
using Backstop.Infrastructure.Security;
using Dapper;

namespace Backstop.Features.Bots;

/// <summary>The callback tokens of this slice's transcription requests, found by their SHA-256 (the token itself is never stored).</summary>
internal sealed class TranscriptionTokens(Db db) : IDeepgramCallbackTokens
{
    public async ValueTask<bool> IsIssuedAsync(string token, CancellationToken ct)
    {
        if (token.Length is < 20 or > 200) return false;
        await using var connection = await db.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "select count(*) from transcriptions where token_hash = @hash", new { hash = Secrets.Hash(token) }, cancellationToken: ct)) > 0;
    }
}
