namespace Backstop.Infrastructure.Providers.Deepgram;

/// <summary>
/// Whoever requests a transcription issues the token its callback carries (<c>?token=</c>) and stores its hash
/// beside the transcription it names; the inbox asks here before it reads a Deepgram callback's body. Callbacks are
/// not signed, so this is their only authentication: a token is unguessable (256 bits), looked up by its hash, bound
/// to one transcription (the body cannot choose another) and valid until that transcription completes or
/// <c>Deepgram:CallbackTokenHours</c> pass.
/// </summary>
internal interface IDeepgramCallbackTokens
{
    /// <summary>The transcription a token names, or null when no valid token of this issuer matches.</summary>
    ValueTask<DeepgramTokenGrant?> GrantOfAsync(string token, CancellationToken ct);
}
