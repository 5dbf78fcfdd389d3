using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Dapper;

namespace Backstop.Features.ApiKeys;

public sealed record OrganizationRow
{
    public string Id { get; init; } = "";
    public string? ExternalId { get; init; }
    public string Slug { get; init; } = "";
    public string Name { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

public sealed record OrganizationResponse(string Id, string Slug, string Name, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static OrganizationResponse From(OrganizationRow row) => new(row.Id, row.Slug, row.Name, row.CreatedAt, row.UpdatedAt);
}

public sealed record MemberRow
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public string? ExternalUserId { get; init; }
    public string? Email { get; init; }
    public string? DisplayName { get; init; }
    public string Role { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

public static class MemberRoles
{
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Member = "member";

    public static readonly IReadOnlyList<string> All = [Owner, Admin, Member];

    public static bool IsValid(string? role) => role is Owner or Admin or Member;
}

/// <summary>Organizations (tenants) and their members: the SQL of both, shared by the admin endpoints and the directory.</summary>
public sealed partial class OrganizationStore(Db db, TimeProvider time)
{
    private const string Columns = "id, external_id, slug, name, created_at, updated_at";
    private const string MemberColumns = "id, organization_id, external_user_id, email, display_name, role, created_at, updated_at";

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")]
    public static partial Regex SlugPattern();

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NotSlug();

    public static string Slugify(string name)
    {
        var slug = NotSlug().Replace(name.Trim().ToLowerInvariant(), "-").Trim('-');
        if (slug.Length > 40) slug = slug[..40].TrimEnd('-');
        return slug.Length == 0 ? "org" : slug;
    }

    private static string Suffixed(string slug) =>
        (slug.Length > 40 ? slug[..40].TrimEnd('-') : slug) + "-" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 6);

    /// <summary>
    /// Inserts an organization. An explicit slug that is taken is a 409; a slug derived from the name gets a random
    /// suffix until it is free. With an external id that already exists, returns that organization instead
    /// (<c>Created = false</c>); the unique index decides, so concurrent callers agree on one row.
    /// </summary>
    public async Task<(OrganizationRow Row, bool Created)> InsertAsync(DbConnection connection, DbTransaction? tx,
        string name, string? slug, bool slugIsExplicit, string? externalId, CancellationToken ct)
    {
        var candidate = slug ?? Slugify(name);
        for (var attempt = 0; ; attempt++)
        {
            var now = time.GetUtcNow();
            var row = new OrganizationRow { Id = Ids.New(time), ExternalId = externalId, Slug = candidate, Name = name, CreatedAt = now, UpdatedAt = now };
            // No conflict target: neither a taken slug nor a known external id may raise an error, which on
            // PostgreSQL would abort the caller's whole transaction.
            var inserted = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                insert into organizations (id, external_id, slug, name, created_at, updated_at)
                values (@Id, @ExternalId, @Slug, @Name, @CreatedAt, @UpdatedAt)
                on conflict do nothing
                returning id
                """, row, tx, cancellationToken: ct));
            if (inserted is not null) return (row, true);

            if (externalId is not null)
            {
                var existing = await connection.QuerySingleOrDefaultAsync<OrganizationRow>(new CommandDefinition(
                    $"select {Columns} from organizations where external_id = @externalId", new { externalId }, tx, cancellationToken: ct));
                if (existing is not null) return (existing, false);
            }

            if (slugIsExplicit && attempt == 0 && externalId is null)
                throw new ProblemException(409, "slug_taken", $"The slug '{candidate}' is already used by another organization.");
            if (attempt >= 8) throw new InvalidOperationException("Could not find a free slug for the organization.");
            candidate = Suffixed(slug ?? Slugify(name));
        }
    }

    public async Task<OrganizationRow?> FindAsync(DbConnection connection, string id, CancellationToken ct) =>
        await connection.QuerySingleOrDefaultAsync<OrganizationRow>(new CommandDefinition(
            $"select {Columns} from organizations where id = @id and deleted_at is null", new { id }, cancellationToken: ct));

    public async Task<OrganizationRow> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await FindAsync(connection, id, ct) ?? throw ProblemException.NotFound("Organization");
    }

    public async Task<Page<OrganizationRow>> ListAsync(PageRequest page, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.PageAsync<OrganizationRow>($"select {Columns} from organizations", "deleted_at is null", null, page, r => r.Id, ct);
    }

    public async Task<OrganizationRow> RenameAsync(string id, string name, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<OrganizationRow>(new CommandDefinition(
            $"""
            update organizations set name = @name, updated_at = @now
            where id = @id and deleted_at is null
            returning {Columns}
            """, new { id, name, now = time.GetUtcNow() }, cancellationToken: ct)) ?? throw ProblemException.NotFound("Organization");
    }

    /// <summary>Soft-deletes the organization and revokes its keys in one transaction. The authenticator also refuses
    /// keys of a deleted organization, so no key works a moment longer even if a revocation were missed.</summary>
    public async Task DeleteAsync(string id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var deleted = await db.InTransactionAsync(async (c, tx) =>
        {
            var hit = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "update organizations set deleted_at = @now, updated_at = @now where id = @id and deleted_at is null returning id",
                new { id, now }, tx, cancellationToken: ct));
            if (hit is null) return false;
            await c.ExecuteAsync(new CommandDefinition(
                "update api_keys set revoked_at = @now, updated_at = @now where organization_id = @id and revoked_at is null",
                new { id, now }, tx, cancellationToken: ct));
            return true;
        }, ct);
        if (!deleted) throw ProblemException.NotFound("Organization");
    }

    public async Task<MemberRow> AddMemberAsync(string organizationId, string? externalUserId, string? email, string? displayName,
        string role, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var row = new MemberRow
        {
            Id = Ids.New(time), OrganizationId = organizationId, ExternalUserId = externalUserId, Email = email,
            DisplayName = displayName, Role = role, CreatedAt = now, UpdatedAt = now,
        };
        return await db.InTransactionAsync(async (c, tx) =>
        {
            var org = await c.ExecuteScalarAsync<long>(new CommandDefinition(
                "select count(*) from organizations where id = @organizationId and deleted_at is null", new { organizationId }, tx, cancellationToken: ct));
            if (org == 0) throw ProblemException.NotFound("Organization");
            var inserted = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                insert into organization_members (id, organization_id, external_user_id, email, display_name, role, created_at, updated_at)
                values (@Id, @OrganizationId, @ExternalUserId, @Email, @DisplayName, @Role, @CreatedAt, @UpdatedAt)
                on conflict do nothing
                returning id
                """, row, tx, cancellationToken: ct));
            return inserted is null
                ? throw new ProblemException(409, "member_exists", "This organization already has a member with this external user id.")
                : row;
        }, ct);
    }

    public async Task<Page<MemberRow>> ListMembersAsync(string organizationId, PageRequest page, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        if (await FindAsync(connection, organizationId, ct) is null) throw ProblemException.NotFound("Organization");
        return await connection.PageAsync<MemberRow>($"select {MemberColumns} from organization_members",
            "organization_id = @organizationId and deleted_at is null", new { organizationId }, page, r => r.Id, ct);
    }

    public async Task RemoveMemberAsync(string organizationId, string memberId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var now = time.GetUtcNow();
        var hit = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            update organization_members set deleted_at = @now, updated_at = @now
            where id = @memberId and organization_id = @organizationId and deleted_at is null
              and organization_id in (select id from organizations where deleted_at is null)
            returning id
            """, new { organizationId, memberId, now }, cancellationToken: ct));
        if (hit is null) throw ProblemException.NotFound("Member");
    }

    internal static string Normalize(string text) => text.Normalize(NormalizationForm.FormC).Trim();
}
