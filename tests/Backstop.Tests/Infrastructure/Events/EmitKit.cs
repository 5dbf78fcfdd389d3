namespace Backstop.Tests.Infrastructure.Events;

/// <summary>A row of <c>events</c> as the emit tests read it, with its <c>data</c> parsed.</summary>
public sealed record EmittedEvent(string Id, string Type, string? OrganizationId, long Sequence, JsonElement Data);

internal static class EmitKit
{
    private sealed record Row
    {
        public string Id { get; init; } = "";
        public string Type { get; init; } = "";
        public string? OrganizationId { get; init; }
        public long Sequence { get; init; }
        public string Data { get; init; } = "";
    }

    /// <summary>The events of <paramref name="organizationId"/> (null: the operator's stream) whose type starts with <paramref name="typePrefix"/>, in sequence order.</summary>
    public static async Task<List<EmittedEvent>> EventsAsync(this BackstopFactory app, string? organizationId, string typePrefix = "")
    {
        await using var connection = await app.OpenAsync();
        var rows = await connection.QueryAsync<Row>(
            """
            select id, type, organization_id, sequence, data from events
            where (organization_id = @organizationId or (@organizationId is null and organization_id is null)) and type like @prefix
            order by sequence
            """, new { organizationId, prefix = typePrefix + "%" });
        return rows.Select(r => new EmittedEvent(r.Id, r.Type, r.OrganizationId, r.Sequence, JsonDocument.Parse(r.Data).RootElement.Clone())).ToList();
    }

    /// <summary>The operator-stream events of <paramref name="type"/> whose data's <paramref name="property"/> is <paramref name="value"/>.</summary>
    public static async Task<List<EmittedEvent>> OperatorEventsAsync(this BackstopFactory app, string type, string property, string value) =>
        (await app.EventsAsync(null, type)).Where(e => e.Type == type && e.Data.TryGetProperty(property, out var p) && p.GetString() == value).ToList();
}
