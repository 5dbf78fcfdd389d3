using System.Data;
using System.Text;
using FastEndpoints;

namespace Backstop.Infrastructure.Data;

/// <summary>Query parameters of every list endpoint: <c>?limit=</c> (1–100, default 50) and an opaque <c>?cursor=</c>.</summary>
internal abstract record PageRequest
{
    [QueryParam] public int? Limit { get; init; }
    [QueryParam] public string? Cursor { get; init; }

    public int Take => Limit ?? 50;

    /// <summary>The id after which the page starts (lists are ordered by id, newest first), or null for the first page.</summary>
    public string? After => Paging.Decode(Cursor);
}

/// <summary>The one list envelope of the API: <c>{ "items": [...], "nextCursor": "…" | null }</c>.</summary>
internal sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor)
{
    public Page<TOut> Map<TOut>(Func<T, TOut> map) => new(Items.Select(map).ToList(), NextCursor);
}

internal static class Paging
{
    public static string Encode(string id) => Convert.ToBase64String(Encoding.UTF8.GetBytes(id)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// The row id a cursor of ours carries, or null. Every list is keyed by a UUID, so text that does not decode to
    /// one (a typo, a cursor of another API, "garbage" that happens to be valid base64) is no cursor of ours.
    /// </summary>
    public static string? Decode(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor) || cursor.Length > 64) return null;
        try
        {
            var s = cursor.Replace('-', '+').Replace('_', '/');
            s += new string('=', (4 - s.Length % 4) % 4);
            var id = Encoding.UTF8.GetString(Convert.FromBase64String(s));
            return Guid.TryParseExact(id, "D", out var guid) && guid.ToString() == id ? id : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static bool IsValidCursor(string? cursor) => string.IsNullOrEmpty(cursor) || Decode(cursor) is not null;

    /// <summary>
    /// The one list query: <paramref name="select"/> (<c>select … from table</c>), filtered by
    /// <paramref name="where"/> (code, never input: values go in <paramref name="filters"/>), newest first by id,
    /// starting after the cursor, one row more than the page to know whether another page follows.
    /// </summary>
    /// <remarks>
    /// The cursor's bound is written only when there is a cursor, not as <c>(@After is null or id &lt; @After)</c>:
    /// SQLite plans a statement once for any values, and in that form the bound cannot start an index range, so
    /// page 50 walked the 49 pages before it again (#29). Filters should be written the same way: only those given.
    /// </remarks>
    public static async Task<Page<T>> PageAsync<T>(this DbConnection connection, string select, string where, object? filters,
        PageRequest page, Func<T, string> id, CancellationToken ct)
    {
        var parameters = new DynamicParameters(filters);
        // Typed, because PostgreSQL cannot infer the type of a null parameter in "@After is null".
        parameters.Add("After", page.After, DbType.String);
        parameters.Add("Limit", page.Take + 1, DbType.Int32);
        var rows = (await connection.QueryAsync<T>(new CommandDefinition(
            $"""
            {select}
            where ({where}){(page.After is null ? "" : " and id < @After")}
            order by id desc
            limit @Limit
            """, parameters, cancellationToken: ct))).ToList();
        return Of(rows, page.Take, id);
    }

    /// <summary>Given one row more than the page size, the page and the cursor of the next one.</summary>
    public static Page<T> Of<T>(IReadOnlyList<T> rowsPlusOne, int take, Func<T, string> id) =>
        rowsPlusOne.Count > take
            ? new Page<T>(rowsPlusOne.Take(take).ToList(), Encode(id(rowsPlusOne[take - 1])))
            : new Page<T>(rowsPlusOne, null);
}
