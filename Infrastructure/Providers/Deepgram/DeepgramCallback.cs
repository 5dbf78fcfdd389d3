using System.Buffers;
using System.Text;

namespace Backstop.Infrastructure.Providers.Deepgram;

/// <summary>What the inbox keeps of a Deepgram callback: its request id, its type and the reduced body.</summary>
internal sealed record DeepgramCallbackEvent(string? RequestId, string? ExtraTranscriptionId, string EventType, string Payload);

/// <summary>
/// Reads a Deepgram callback from its stream and reduces it to what is kept: the top-level scalars, <c>metadata</c>
/// whole, and per channel the first alternative's <c>transcript</c>, <c>confidence</c> and <c>words</c> (word,
/// punctuated word, start, end, confidence, speaker). Utterances, paragraphs and the other alternatives are dropped:
/// they repeat the words, and they are most of a long callback's size (an hour of speech is several MB). The body is
/// parsed once, from the stream, and never held as a string; the reduced form is what the event row stores.
/// <see cref="BoundTranscriptionProperty"/> is written by us from the callback's token, never taken from the body.
/// </summary>
internal static class DeepgramCallback
{
    public const string BoundTranscriptionProperty = "backstop_transcription_id";

    /// <exception cref="JsonException">The body is not a JSON object.</exception>
    public static async Task<DeepgramCallbackEvent> ReadAsync(Stream body, string? boundTranscriptionId, CancellationToken ct)
    {
        using var document = await JsonDocument.ParseAsync(body, default, ct);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new JsonException("The body is not a JSON object.");
        var metadata = root.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
        var requestId = Str(metadata, "request_id") ?? Str(root, "request_id");
        var extra = metadata.ValueKind == JsonValueKind.Object && metadata.TryGetProperty("extra", out var e) ? Str(e, DeepgramClient.ExtraKey) : null;
        var hasResults = root.TryGetProperty("results", out var results) && results.ValueKind == JsonValueKind.Object;

        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                if (property.NameEquals(BoundTranscriptionProperty)) continue;
                if (property.NameEquals("results") && hasResults)
                {
                    writer.WritePropertyName("results");
                    WriteResults(writer, results);
                }
                else if (property.NameEquals("metadata") || property.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array) || !hasResults)
                {
                    property.WriteTo(writer);
                }
            }
            if (boundTranscriptionId is not null) writer.WriteString(BoundTranscriptionProperty, boundTranscriptionId);
            writer.WriteEndObject();
        }
        return new DeepgramCallbackEvent(requestId, extra, hasResults ? "transcription.completed" : "transcription.failed", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private static void WriteResults(Utf8JsonWriter writer, JsonElement results)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("channels");
        if (results.TryGetProperty("channels", out var channels) && channels.ValueKind == JsonValueKind.Array)
            foreach (var channel in channels.EnumerateArray())
            {
                writer.WriteStartObject();
                writer.WriteStartArray("alternatives");
                if (channel.ValueKind == JsonValueKind.Object && channel.TryGetProperty("alternatives", out var alternatives) &&
                    alternatives.ValueKind == JsonValueKind.Array && alternatives.GetArrayLength() > 0 && alternatives[0].ValueKind == JsonValueKind.Object)
                {
                    var best = alternatives[0];
                    writer.WriteStartObject();
                    Copy(writer, best, "transcript");
                    Copy(writer, best, "confidence");
                    writer.WriteStartArray("words");
                    if (best.TryGetProperty("words", out var words) && words.ValueKind == JsonValueKind.Array)
                        foreach (var word in words.EnumerateArray())
                        {
                            if (word.ValueKind != JsonValueKind.Object) continue;
                            writer.WriteStartObject();
                            Copy(writer, word, "word");
                            Copy(writer, word, "punctuated_word");
                            Copy(writer, word, "start");
                            Copy(writer, word, "end");
                            Copy(writer, word, "confidence");
                            Copy(writer, word, "speaker");
                            writer.WriteEndObject();
                        }
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void Copy(Utf8JsonWriter writer, JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var value) && value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
        {
            writer.WritePropertyName(name);
            value.WriteTo(writer);
        }
    }

    private static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;
}
