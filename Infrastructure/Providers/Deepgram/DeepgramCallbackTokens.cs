namespace Backstop.Infrastructure.Providers.Deepgram;

/// <summary>
/// Whoever requests a transcription issues the token its callback carries (<c>?token=</c>) and stores its hash; the
/// inbox asks here before it stores a Deepgram callback. Callbacks are not signed, so this is their only
/// authentication: a token is unguessable (256 bits) and looked up by its hash.
/// </summary>
internal interface IDeepgramCallbackTokens
{
    ValueTask<bool> IsIssuedAsync(string token, CancellationToken ct);
}
