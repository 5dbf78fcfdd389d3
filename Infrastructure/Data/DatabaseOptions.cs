namespace Backstop.Infrastructure.Data;

internal sealed class DatabaseOptions : IValidatedOptions
{
    public const string Section = "Database";

    /// <summary><c>sqlite</c> (default, embedded) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>For SQLite defaults to <c>Data Source=./data/backstop.db</c>; required for PostgreSQL.</summary>
    public string? ConnectionString { get; set; }

    public Dialect Dialect => Provider.Trim().ToLowerInvariant() switch
    {
        "postgres" or "postgresql" => Dialect.Postgres,
        _ => Dialect.Sqlite,
    };

    public IEnumerable<string> Validate()
    {
        var provider = Provider.Trim().ToLowerInvariant();
        if (provider is not ("sqlite" or "postgres" or "postgresql"))
            yield return $"Database:Provider must be 'sqlite' or 'postgres' (got '{Provider}').";
        if (provider is "postgres" or "postgresql" && string.IsNullOrWhiteSpace(ConnectionString))
            yield return "Database:ConnectionString is required when Database:Provider is 'postgres'.";
    }
}

internal enum Dialect
{
    Sqlite,
    Postgres,
}
