namespace Backstop.Features.Bots;

internal sealed class MeetingUsage : IMeetingUsage
{
    public Task<long> CountMeetingsCreatedAsync(DbConnection connection, DbTransaction? transaction, string organizationId, DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            select (select count(*) from meetings where organization_id = @organizationId and created_at >= @from and created_at < @to)
                 + (select count(*) from meeting_bot_starts where organization_id = @organizationId and created_at >= @from and created_at < @to)
            """,
            new { organizationId, from, to }, transaction, cancellationToken: ct));

    public Task<long> StoredBytesAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct) =>
        connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "select coalesce(sum(audio_size), 0) from meetings where organization_id = @organizationId and audio_key is not null",
            new { organizationId }, transaction, cancellationToken: ct));
}
