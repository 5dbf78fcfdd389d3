namespace Backstop.Infrastructure.Api;

/// <summary>Rules every free-text field shares.</summary>
internal static class TextRules
{
    /// <summary>
    /// Refuses control characters (NUL, escapes, line breaks): a name with them breaks logs, CSV exports and
    /// terminals, and PostgreSQL refuses NUL in text outright (a 500 there, a stored oddity on SQLite).
    /// </summary>
    public static IRuleBuilderOptions<T, string?> NoControlCharacters<T>(this IRuleBuilder<T, string?> rule, string field) =>
        rule.Must(value => value is null || !value.Any(char.IsControl)).WithMessage($"{field} must not contain control characters.");
}
