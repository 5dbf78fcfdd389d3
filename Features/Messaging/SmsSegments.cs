namespace Backstop.Features.Messaging;

/// <summary>
/// Segments as Twilio bills them. A body written only in the GSM-7 alphabet travels in septets: 160 in a single
/// message, 153 per segment once it is split (7 go to the concatenation header); the extension characters
/// (<c>^{}\[~]|€</c> and form feed) take two septets, an escape and the character, which are never split across
/// segments. Any other character makes the whole body UCS-2: 70 UTF-16 units in one message, 67 per segment, a
/// surrogate pair never split. A 1,600-character Unicode body is 24 segments.
/// </summary>
internal static class SmsSegments
{
    private const string Basic =
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    private const string Extension = "^{}\\[~]|€\f";

    private static readonly System.Buffers.SearchValues<char> BasicSet = System.Buffers.SearchValues.Create(Basic);
    private static readonly System.Buffers.SearchValues<char> ExtensionSet = System.Buffers.SearchValues.Create(Extension);

    public static bool IsGsm7(string body)
    {
        foreach (var c in body)
            if (!BasicSet.Contains(c) && !ExtensionSet.Contains(c)) return false;
        return true;
    }

    public static int Count(string body)
    {
        if (body.Length == 0) return 1;
        if (IsGsm7(body))
        {
            var septets = 0;
            foreach (var c in body) septets += ExtensionSet.Contains(c) ? 2 : 1;
            if (septets <= 160) return 1;
            return Pack(body, 153, c => ExtensionSet.Contains(c) ? 2 : 1, pairStarts: false);
        }
        if (body.Length <= 70) return 1;
        return Pack(body, 67, _ => 1, pairStarts: true);
    }

    /// <summary>Fills segments of <paramref name="capacity"/> units in order, moving a unit that does not fit whole (an escape pair, a surrogate pair) to the next.</summary>
    private static int Pack(string body, int capacity, Func<char, int> size, bool pairStarts)
    {
        var segments = 1;
        var used = 0;
        for (var i = 0; i < body.Length; i++)
        {
            var units = size(body[i]);
            if (pairStarts && char.IsHighSurrogate(body[i]) && i + 1 < body.Length && char.IsLowSurrogate(body[i + 1]))
            {
                units = 2;
                i++;
            }
            if (used + units > capacity)
            {
                segments++;
                used = 0;
            }
            used += units;
        }
        return segments;
    }
}
