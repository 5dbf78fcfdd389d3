namespace Backstop.Features.Messaging;

/// <summary>How a recipient appears in the audit log: enough to tell two apart in an investigation, not enough to contact them.</summary>
internal static class Recipients
{
    /// <summary><c>+1415•••0123</c> for a number (country and area code, last four digits); <c>p•••@example.com</c> for an address.</summary>
    public static string Mask(string identifier)
    {
        if (identifier.Contains('@'))
        {
            var at = identifier.IndexOf('@');
            return (at > 0 ? identifier[..1] : "") + "•••" + identifier[at..];
        }
        return identifier.Length <= 8 ? "•••" + identifier[^Math.Min(2, identifier.Length)..] : identifier[..5] + "•••" + identifier[^4..];
    }
}
