using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ListMetricsResponse(IReadOnlyList<MetricResponse> Items);

/// <summary><c>GET /v1/admin/metrics</c>: every declared metric, built-in ones included.</summary>
internal sealed class ListMetrics(Db db) : EndpointWithoutRequest<ListMetricsResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/metrics");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the declared usage metrics.");
        Description(d => d.Answers<ListMetricsResponse>());
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<MetricRow>(new CommandDefinition(
            $"select {MetricRow.Columns} from usage_metrics order by name", cancellationToken: ct));
        await Send.OkAsync(new ListMetricsResponse(rows.Select(MetricResponse.From).ToList()), ct);
    }
}
