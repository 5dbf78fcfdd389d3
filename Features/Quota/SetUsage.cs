using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record SetUsageRequest
{
    public string Metric { get; init; } = "";
    /// <summary>The gauge's true value, as the application counts it.</summary>
    public long? Value { get; init; }
    /// <summary>When the application counted it: a set older than the last one applied is ignored (requests can arrive out of order).</summary>
    public DateTimeOffset? AsOf { get; init; }

    public sealed class Validator : Validator<SetUsageRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Value).NotNull().WithMessage("value is required.").GreaterThanOrEqualTo(0).WithMessage("value must be at least 0.");
            RuleFor(r => r.AsOf).NotNull().WithMessage("asOf is required.");
        }
    }
}

/// <param name="Applied">False when a set with a later <c>asOf</c> was applied before: the usage shown is that one's.</param>
internal sealed record SetUsageResponse(UsageReading Usage, bool Applied);

/// <summary>
/// <c>PUT /v1/usage/{metric}</c>: the application sets a gauge it owns to its true value (reconciling its own
/// counts). Not limited: the value is a fact, over the limit or not. Backstop's own gauges (members, storage) are
/// counted by Backstop and cannot be set.
/// </summary>
internal sealed class SetUsage(Db db, UsageMeter meter, IAuditLog audit, TimeProvider time) : Endpoint<SetUsageRequest, SetUsageResponse>
{
    public override void Configure()
    {
        Put("/v1/usage/{metric}");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Set an application-owned gauge to its true value as of a time (an older set is ignored).");
        Description(d => d.Answers<SetUsageResponse>().Problems(403, 404, 409));
    }

    public override async Task HandleAsync(SetUsageRequest req, CancellationToken ct)
    {
        var scope = await meter.ResolveAsync(User.OrganizationId(), req.Metric, lenient: false, ct, apiWrite: true);
        if (!scope.IsGauge) throw new ProblemException(409, "metric_not_a_gauge", $"'{req.Metric}' is a counter: only gauges can be released or set.");
        var now = time.GetUtcNow();
        var applied = await db.InTransactionAsync(async (connection, tx) =>
        {
            var changed = await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into usage_counters (organization_id, metric, period_start, period_end, used, as_of, created_at, updated_at)
                values (@OrganizationId, @Metric, @PeriodStart, @PeriodEnd, @value, @asOf, @now, @now)
                on conflict (organization_id, metric, period_start) do update
                    set used = excluded.used, as_of = excluded.as_of, updated_at = excluded.updated_at
                    where usage_counters.as_of is null or usage_counters.as_of < excluded.as_of
                """, new { scope.OrganizationId, Metric = scope.Metric.Name, scope.PeriodStart, scope.PeriodEnd, value = req.Value!.Value, asOf = req.AsOf!.Value, now },
                tx, cancellationToken: ct)) == 1;
            // Only a set that changed the stored value is a change (an older one, ignored, is not).
            if (changed)
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.UsageSet, "usage", $"{scope.OrganizationId}:{scope.Metric.Name}",
                    scope.OrganizationId, new { metric = scope.Metric.Name, value = req.Value!.Value, asOf = req.AsOf!.Value }), ct);
            return changed;
        }, ct);
        await using var read = await db.OpenAsync(ct);
        await Send.OkAsync(new SetUsageResponse(scope.Reading(await UsageMeter.UsedAsync(read, null, scope, ct)), applied), ct);
    }
}
