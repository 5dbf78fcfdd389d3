namespace Backstop.Infrastructure.Storage;

internal static class StorageKeys
{
    /// <summary>Keys are relative paths of plain segments: never absolute, never <c>..</c>, so a key cannot leave the store.</summary>
    public static string Check(string key)
    {
        if (string.IsNullOrWhiteSpace(key) || key.StartsWith('/') || key.Contains('\\') ||
            key.Split('/').Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new ArgumentException($"'{key}' is not a storage key.", nameof(key));
        return key;
    }
}
