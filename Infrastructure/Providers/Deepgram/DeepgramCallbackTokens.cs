namespace Backstop.Infrastructure.Providers.Deepgram;

/// <param name="TranscriptionId">The one transcription this token's callbacks may change.</param>
/// <param name="Completed">The transcription completed: a late or repeated callback is acknowledged and changes nothing.</param>
internal sealed record DeepgramTokenGrant(string TranscriptionId, bool Completed);
