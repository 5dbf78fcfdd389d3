using System.Net;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Messaging.Templates;

/// <summary>The one-time code email, as plain text and HTML. Values are HTML-encoded; the code is digits only.</summary>
internal static class OneTimeCodeEmail
{
    public static EmailContent Render(string code, int minutes)
    {
        var subject = $"Your verification code: {code}";
        var text = $"""
            Your verification code is {code}.

            It expires in {minutes} minutes and can be used once. If you did not ask for it, ignore this message.
            """;
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <body style="font-family: sans-serif; color: #222;">
              <p>Your verification code is</p>
              <p style="font-size: 28px; font-weight: bold; letter-spacing: 4px;">{WebUtility.HtmlEncode(code)}</p>
              <p>It expires in {minutes} minutes and can be used once. If you did not ask for it, ignore this message.</p>
            </body>
            </html>
            """;
        return new EmailContent(subject, text, html);
    }

    public static string Sms(string code, int minutes) => $"Your verification code is {code}. It expires in {minutes} minutes.";
}
