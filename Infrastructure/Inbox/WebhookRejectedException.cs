namespace Backstop.Infrastructure.Inbox;

/// <summary>A delivery refused before anything was stored: bad, stale or missing signature or token.</summary>
internal sealed class WebhookRejectedException(int status, string code, string detail) : ProblemException(status, code, detail)
{
    public static WebhookRejectedException Missing(string what) => new(400, "missing_signature", $"The request has no {what}.");
    public static WebhookRejectedException Invalid(string detail = "The signature does not match the body.") => new(400, "invalid_signature", detail);
    public static WebhookRejectedException Stale() => new(400, "stale_signature", "The signature's timestamp is outside the accepted window.");
}
