using System.Collections.Specialized;
using Backstop.Infrastructure.Inbox;
using RequestValidator = Twilio.Security.RequestValidator;

namespace Backstop.Infrastructure.Providers.Twilio;

/// <summary>
/// Twilio's request signature, checked by the SDK's <see cref="RequestValidator"/>: form-encoded requests
/// (HMAC-SHA1 over the URL and the sorted parameters) and JSON bodies (the URL's <c>bodySHA256</c> parameter carries the
/// body's hash, and the signature covers the URL). Twilio may sign the URL with or without an explicit default port;
/// the SDK's own variation does not match a configured <c>https://host:443</c> against a signature made without the
/// port (checked with 8.2.0), so both forms are tried here.
/// </summary>
internal static class TwilioSignature
{
    public static void Verify(string authToken, string url, IEnumerable<KeyValuePair<string, string[]>> form, string? header)
    {
        if (string.IsNullOrEmpty(header)) throw WebhookRejectedException.Missing("X-Twilio-Signature header");
        var parameters = new NameValueCollection();
        foreach (var (name, values) in form)
            foreach (var value in values)
                parameters.Add(name, value);
        var validator = new RequestValidator(authToken);
        var valid = false;
        foreach (var candidate in UrlVariants(url))
            valid |= validator.Validate(candidate, parameters, header); // no early exit: the time does not tell which form matched
        if (!valid) throw Mismatch();
    }

    public static void VerifyJson(string authToken, string url, string body, string? header)
    {
        if (string.IsNullOrEmpty(header)) throw WebhookRejectedException.Missing("X-Twilio-Signature header");
        bool valid;
        try
        {
            var validator = new RequestValidator(authToken);
            valid = false;
            foreach (var candidate in UrlVariants(url))
                valid |= validator.Validate(candidate, body, header);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            valid = false; // no or malformed bodySHA256: not a request Twilio signed
        }
        if (!valid) throw Mismatch();
    }

    private static IEnumerable<string> UrlVariants(string url)
    {
        yield return url;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !uri.IsDefaultPort) yield break;
        var origin = uri.Scheme + "://" + uri.Host;
        var withPort = $"{origin}:{uri.Port}";
        if (url.StartsWith(withPort, StringComparison.OrdinalIgnoreCase)) yield return origin + url[withPort.Length..];
        else if (url.StartsWith(origin, StringComparison.OrdinalIgnoreCase)) yield return withPort + url[origin.Length..];
    }

    private static WebhookRejectedException Mismatch() => new(403, "invalid_signature", "The X-Twilio-Signature does not match.");
}
