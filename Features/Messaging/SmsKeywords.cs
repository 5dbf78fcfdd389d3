namespace Backstop.Features.Messaging;

internal enum SmsKeyword
{
    None,
    OptOut,
    OptIn,
    Help,
}

/// <summary>
/// Twilio's default keyword sets. A keyword is the whole message (surrounding spaces and case ignored):
/// "STOP PLEASE" is an ordinary message, as it is for Twilio.
/// </summary>
internal static class SmsKeywords
{
    private static readonly HashSet<string> OptOut = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"];
    private static readonly HashSet<string> OptIn = ["START", "YES", "UNSTOP"];
    private static readonly HashSet<string> Help = ["HELP", "INFO"];

    public static SmsKeyword Classify(string? body)
    {
        var word = (body ?? "").Trim().ToUpperInvariant();
        if (word.Length == 0 || word.Any(char.IsWhiteSpace)) return SmsKeyword.None;
        if (OptOut.Contains(word)) return SmsKeyword.OptOut;
        if (OptIn.Contains(word)) return SmsKeyword.OptIn;
        return Help.Contains(word) ? SmsKeyword.Help : SmsKeyword.None;
    }
}
