using Backstop.Infrastructure.Inbox;
using System.Security;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.Messaging;

internal static class TwilioForm
{
    /// <summary>A field of a Twilio webhook, whose payload the inbox stores as a JSON object of the form fields.</summary>
    public static string? Field(string payload, string name)
    {
        using var doc = JsonDocument.Parse(payload);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(name, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.Array when value.GetArrayLength() > 0 && value[0].ValueKind == JsonValueKind.String => value[0].GetString(),
            _ => null,
        };
    }
}
