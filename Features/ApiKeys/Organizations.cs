using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.ApiKeys;

internal sealed record OrganizationRow
{
    public string Id { get; init; } = "";
    public string? ExternalId { get; init; }
    public string Slug { get; init; } = "";
    public string Name { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

internal sealed record OrganizationResponse(string Id, string Slug, string Name, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static OrganizationResponse From(OrganizationRow row) => new(row.Id, row.Slug, row.Name, row.CreatedAt, row.UpdatedAt);

    /// <summary>When the organization was deleted; null while it lives.</summary>
    public DateTimeOffset? DeletedAt { get; init; }

    /// <summary>For a deleted organization: what of its data remains until the retention sweeps remove it.</summary>
    public OrganizationDeletionProgress? Deletion { get; init; }
}

/// <param name="Remaining">Per kind of data (<c>sms_messages</c>, …), how many rows or files remain.</param>
/// <param name="Complete">Nothing remains.</param>
internal sealed record OrganizationDeletionProgress(IReadOnlyDictionary<string, long> Remaining, bool Complete);

internal sealed record DeletedOrganizationRow
{
    public string Id { get; init; } = "";
    public string Slug { get; init; } = "";
    public string Name { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset DeletedAt { get; init; }
}

internal sealed record MemberRow
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

/// <summary>Organizations (tenants) and their members: the SQL of both, shared by the admin endpoints and the directory.</summary>
internal sealed partial class OrganizationStore(Db db, ApiKeyCache keyCache, TimeProvider time, IAuditLog audit,
    IEnumerable<IOrganizationDeletionListener> deletionListeners, IEventPublisher events)
{
    private const string Columns = "id, external_id, slug, name, created_at, updated_at";
    private const string MemberColumns = "id, organization_id, external_user_id, email, display_name, role, created_at, updated_at";

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")]
    public static partial Regex SlugPattern();

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NotSlug();

    public static string Slugify(string name)
    {
        var slug = NotSlug().Replace(Transliterate(name.Trim().ToLowerInvariant()), "-").Trim('-');
        if (slug.Length > 40) slug = slug[..40].TrimEnd('-');
        return slug.Length == 0 ? "org" : slug;
    }

    // Latin-1 Supplement and Latin Extended-A letters by their usual ASCII spelling. A table rather than Unicode
    // decomposition: the service runs with invariant globalization, where string.Normalize does not decompose.
    private static readonly Dictionary<char, string> Latin = BuildLatin();

    private static Dictionary<char, string> BuildLatin()
    {
        var map = new Dictionary<char, string>();
        foreach (var (letters, ascii) in new[]
                 {
                     ("àáâãäåāăą", "a"), ("çćĉċč", "c"), ("ďđð", "d"), ("èéêëēĕėęě", "e"), ("ĝğġģ", "g"), ("ĥħ", "h"),
                     ("ìíîïĩīĭįı", "i"), ("ĵ", "j"), ("ķ", "k"), ("ĺļľŀł", "l"), ("ñńņňŉ", "n"), ("òóôõöøōŏő", "o"),
                     ("ŕŗř", "r"), ("śŝşšș", "s"), ("ţťŧț", "t"), ("ùúûüũūŭůűų", "u"), ("ŵ", "w"), ("ýÿŷ", "y"), ("źżž", "z"),
                     ("ß", "ss"), ("æ", "ae"), ("œ", "oe"), ("þ", "th"), ("ĳ", "ij"),
                 })
            foreach (var letter in letters)
            {
                map[letter] = ascii;
                var upper = char.ToUpperInvariant(letter);
                if (upper != letter) map.TryAdd(upper, ascii);
            }
        map.TryAdd('Æ', "ae");
        map.TryAdd('Œ', "oe");
        map.TryAdd('Ø', "o");
        map.TryAdd('Ł', "l");
        map.TryAdd('Đ', "d");
        map.TryAdd('Þ', "th");
        return map;
    }

    /// <summary>"Zoë Müller" → "zoe muller"; other scripts stay and are then replaced like any non-slug character.</summary>
    internal static string Transliterate(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text) builder.Append(Latin.TryGetValue(c, out var ascii) ? ascii : c.ToString());
        return builder.ToString();
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

    /// <summary>An operator's creation: the row and its audit entry in one transaction.</summary>
    public Task<OrganizationRow> CreateAsync(string name, string? slug, CancellationToken ct) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var (row, _) = await InsertAsync(c, tx, name, slug, slug is not null, null, ct);
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.OrganizationCreate, "organization", row.Id, row.Id,
                new { row.Name, row.Slug }), ct);
            await ApiKeyEvents.OrganizationCreatedAsync(events, c, tx, row, ct);
            return row;
        }, ct);

    public async Task<OrganizationRow?> FindAsync(DbConnection connection, string id, CancellationToken ct) =>
        await connection.QuerySingleOrDefaultAsync<OrganizationRow>(new CommandDefinition(
            $"select {Columns} from organizations where id = @id and deleted_at is null", new { id }, cancellationToken: ct));

    /// <summary>A deleted organization (soft-deleted rows stay), or null when there is none with this id or it lives.</summary>
    public async Task<DeletedOrganizationRow?> FindDeletedAsync(string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<DeletedOrganizationRow>(new CommandDefinition(
            "select id, slug, name, created_at, updated_at, deleted_at from organizations where id = @id and deleted_at is not null",
            new { id }, cancellationToken: ct));
    }

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

    /// <summary>
    /// Live organizations whose id or slug is <paramref name="text"/>, or whose name or slug contains it
    /// (case-insensitive), newest first: the operator console's search.
    /// </summary>
    public async Task<Page<OrganizationRow>> SearchAsync(string text, PageRequest page, CancellationToken ct)
    {
        var exact = text.Trim();
        // LIKE's wildcards in the text are literal characters.
        var pattern = "%" + exact.ToLowerInvariant().Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_") + "%";
        await using var connection = await db.OpenAsync(ct);
        return await connection.PageAsync<OrganizationRow>($"select {Columns} from organizations",
            @"deleted_at is null and (id = @exact or slug = @exact or lower(name) like @pattern escape '\' or slug like @pattern escape '\')",
            new { exact, pattern }, page, r => r.Id, ct);
    }

    /// <summary>Renames; keys of the organization verified on this instance are forgotten, so its next
    /// <c>GET /v1/me</c> here answers the new name (other instances within ApiKeys:CacheSeconds).</summary>
    public async Task<OrganizationRow> RenameAsync(string id, string name, CancellationToken ct)
    {
        var renamed = await db.InTransactionAsync(async (c, tx) =>
        {
            // The row lock (PostgreSQL; SQLite's write lock is already held) makes the name read here the one replaced.
            var before = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                $"select name from organizations where id = @id and deleted_at is null {db.Dialect.ForUpdate()}", new { id }, tx, cancellationToken: ct))
                ?? throw ProblemException.NotFound("Organization");
            var row = await c.QuerySingleAsync<OrganizationRow>(new CommandDefinition(
                $"""
                update organizations set name = @name, updated_at = @now
                where id = @id and deleted_at is null
                returning {Columns}
                """, new { id, name, now = time.GetUtcNow() }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.OrganizationUpdate, "organization", id, id,
                new { name = new { from = before, to = name } }), ct);
            return row;
        }, ct);
        keyCache.ForgetOrganization(id);
        return renamed;
    }

    /// <summary>Soft-deletes the organization, revokes its keys and runs the <see cref="IOrganizationDeletionListener"/>s in one transaction. The authenticator also refuses
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
            var revoked = await c.ExecuteAsync(new CommandDefinition(
                "update api_keys set revoked_at = @now, updated_at = @now where organization_id = @id and revoked_at is null",
                new { id, now }, tx, cancellationToken: ct));
            // Its event endpoints first, so nothing more is enqueued for them; the listeners then cancel what is pending.
            var retiredEndpoints = await events.RetireOrganizationEndpointsAsync(c, tx, id, ct);
            foreach (var listener in deletionListeners) await listener.OnDeletingAsync(c, tx, id, ct);
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.OrganizationDelete, "organization", id, id,
                new { deleted = "soft", revokedKeys = revoked, eventEndpoints = retiredEndpoints }), ct);
            await ApiKeyEvents.OrganizationDeletedAsync(events, c, tx, id, ct);
            return true;
        }, ct);
        if (!deleted) throw ProblemException.NotFound("Organization");
        keyCache.ForgetOrganization(id);
    }

    /// <param name="added">Runs in the insert's transaction once the member row is in (the caller's usage check): throwing undoes the add.</param>
    public async Task<MemberRow> AddMemberAsync(string organizationId, string? externalUserId, string? email, string? displayName,
        string role, CancellationToken ct, Func<DbConnection, DbTransaction, Task>? added = null)
    {
        var now = time.GetUtcNow();
        var row = new MemberRow
        {
            Id = Ids.New(time), OrganizationId = organizationId, ExternalUserId = externalUserId, Email = email,
            DisplayName = displayName, Role = role, CreatedAt = now, UpdatedAt = now,
        };
        return await db.InTransactionAsync(async (c, tx) =>
        {
            // Locks the organization (PostgreSQL; SQLite's write lock is already held): adds to one organization are
            // serialised, so the email check below cannot be passed by two concurrent adds of the same address, and
            // the organization cannot be deleted in between. No unique index on email: a member provisioned by the
            // identity provider may share an address with one an operator added, and must not fail its webhook.
            var org = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                $"select id from organizations where id = @organizationId and deleted_at is null {db.Dialect.ForUpdate()}", new { organizationId }, tx, cancellationToken: ct));
            if (org is null) throw ProblemException.NotFound("Organization");
            var inserted = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                insert into organization_members (id, organization_id, external_user_id, email, display_name, role, created_at, updated_at)
                select @Id, @OrganizationId, @ExternalUserId, @Email, @DisplayName, @Role, @CreatedAt, @UpdatedAt
                where @Email is null or not exists (
                    select 1 from organization_members
                    where organization_id = @OrganizationId and deleted_at is null and lower(email) = lower(@Email))
                on conflict do nothing
                returning id
                """, row, tx, cancellationToken: ct));
            if (inserted is null)
            {
                var sameEmail = email is not null && await c.ExecuteScalarAsync<long>(new CommandDefinition(
                    """
                    select count(*) from organization_members
                    where organization_id = @organizationId and deleted_at is null and lower(email) = lower(@email)
                    """, new { organizationId, email }, tx, cancellationToken: ct)) > 0;
                throw new ProblemException(409, "member_exists", sameEmail
                    ? "This organization already has a member with this email."
                    : "This organization already has a member with this external user id.");
            }
            if (added is not null) await added(c, tx);
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.MemberAdd, "member", row.Id, organizationId,
                new { row.ExternalUserId, row.Email, row.DisplayName, row.Role }), ct);
            return row;
        }, ct);
    }

    public async Task<Page<MemberRow>> ListMembersAsync(string organizationId, PageRequest page, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        if (await FindAsync(connection, organizationId, ct) is null) throw ProblemException.NotFound("Organization");
        return await connection.PageAsync<MemberRow>($"select {MemberColumns} from organization_members",
            "organization_id = @organizationId and deleted_at is null", new { organizationId }, page, r => r.Id, ct);
    }

    /// <param name="removed">Runs in the removal's transaction after the member is gone (the <c>team_members</c> gauge recounted).</param>
    public async Task RemoveMemberAsync(string organizationId, string memberId, CancellationToken ct, Func<DbConnection, DbTransaction, Task>? removed = null)
    {
        var now = time.GetUtcNow();
        var found = await db.InTransactionAsync(async (c, tx) =>
        {
            // The organization's lock, as adds take it: a recount after the removal cannot miss a concurrent add.
            if (removed is not null)
                await c.ExecuteAsync(new CommandDefinition($"select id from organizations where id = @organizationId {db.Dialect.ForUpdate()}",
                    new { organizationId }, tx, cancellationToken: ct));
            var hit = await c.QuerySingleOrDefaultAsync<MemberRow>(new CommandDefinition(
                $"""
                update organization_members set deleted_at = @now, updated_at = @now
                where id = @memberId and organization_id = @organizationId and deleted_at is null
                  and organization_id in (select id from organizations where deleted_at is null)
                returning {MemberColumns}
                """, new { organizationId, memberId, now }, tx, cancellationToken: ct));
            if (hit is null) return false;
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.MemberRemove, "member", memberId, organizationId,
                new { deleted = "soft", hit.ExternalUserId, hit.Email, hit.Role }), ct);
            if (removed is not null) await removed(c, tx);
            return true;
        }, ct);
        if (!found) throw ProblemException.NotFound("Member");
    }

    internal static string Normalize(string text) => text.Normalize(NormalizationForm.FormC).Trim();
}
