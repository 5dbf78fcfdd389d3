namespace Backstop.Infrastructure.OperatorConsole;

internal sealed record OperatorKeyRow
{
    public string Id { get; init; } = "";
    public string Name { get; init; } = "";
    public string Role { get; init; } = "";
    public string Prefix { get; init; } = "";
    public DateTimeOffset? LastUsedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

/// <param name="Prefix">The key's public start (<c>bso_</c> and 6 characters), to recognise it; never the key.</param>
internal sealed record OperatorKeyResponse(string Id, string Name, string Role, string Prefix, DateTimeOffset CreatedAt,
    DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt)
{
    public static OperatorKeyResponse From(OperatorKeyRow r) => new(r.Id, r.Name, r.Role, r.Prefix, r.CreatedAt, r.LastUsedAt, r.RevokedAt);
}

/// <param name="Key">The key itself: shown in this answer only (only its hash is stored).</param>
internal sealed record CreatedOperatorKeyResponse(string Id, string Name, string Role, string Key, string Prefix, DateTimeOffset CreatedAt);
