using System.Data;
using System.Globalization;
using Npgsql;

namespace Backstop.Infrastructure.Data;

/// <summary>
/// Timestamps are <see cref="DateTimeOffset"/> in C#, <c>timestamptz</c> in PostgreSQL and fixed-width UTC text in
/// SQLite. The fixed width (seven fraction digits, always <c>Z</c>) is what makes SQLite's text comparison
/// (<c>where expires_at &lt; @now</c>) order timestamps correctly.
/// </summary>
internal static class DapperSetup
{
    private static int registered;

    public static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1) return;
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        // Dapper maps DateTimeOffset itself unless the built-in mapping is removed; then the handler is used both ways.
        SqlMapper.RemoveTypeMap(typeof(DateTimeOffset));
        SqlMapper.RemoveTypeMap(typeof(DateTimeOffset?));
        SqlMapper.AddTypeHandler(new DateTimeOffsetHandler());
    }

    public static string ToSqliteText(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private sealed class DateTimeOffsetHandler : SqlMapper.TypeHandler<DateTimeOffset>
    {
        public override void SetValue(IDbDataParameter parameter, DateTimeOffset value)
        {
            if (parameter is NpgsqlParameter)
            {
                parameter.Value = value.ToUniversalTime();
                parameter.DbType = DbType.DateTimeOffset;
            }
            else
            {
                parameter.Value = ToSqliteText(value);
                parameter.DbType = DbType.String;
            }
        }

        public override DateTimeOffset Parse(object value) => value switch
        {
            DateTimeOffset d => d.ToUniversalTime(),
            DateTime d => new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)),
            string s => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
            _ => throw new DataException($"Cannot read a timestamp from a {value.GetType().Name}."),
        };
    }
}
