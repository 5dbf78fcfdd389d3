namespace Backstop.Infrastructure.Security;

internal sealed class AdminOptions : IValidatedOptions
{
    public const string Section = "Admin";

    /// <summary>The operator's key. When empty, the first start generates one and prints it once.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Where a generated (or rotated) key is written when stdout is not a terminal: never into a log pipeline.</summary>
    public string KeyFile { get; set; } = "./data/admin-key";

    /// <summary>
    /// A second listening address for the operator's endpoints (<c>/v1/admin/*</c>, <c>/metrics</c>, <c>/hangfire</c>),
    /// e.g. <c>http://127.0.0.1:9091</c>; several separated by <c>;</c>. Empty: they stay on the main port. See <see cref="AdminPort"/>.
    /// </summary>
    public string Urls { get; set; } = "";

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(KeyFile)) yield return "Admin:KeyFile must not be empty.";
        if (!string.IsNullOrEmpty(ApiKey) && ApiKey.Trim().Length < 32)
            yield return "Admin:ApiKey must be at least 32 characters long.";
        foreach (var error in AdminPort.Validate(Urls)) yield return error;
    }
}
