namespace Backstop.Tests.Support;

/// <summary>Reads straight from the app's database, for what a test must see in the rows.</summary>
public static class DatabaseKit
{
    /// <summary>One number from the app's database (a count, a sum): the tests' one way to count rows.</summary>
    public static async Task<long> CountAsync(this BackstopFactory app, string sql, object? args = null)
    {
        await using var connection = await app.OpenAsync();
        return await connection.ExecuteScalarAsync<long>(sql, args);
    }
}
