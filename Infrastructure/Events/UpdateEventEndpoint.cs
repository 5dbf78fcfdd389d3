using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary>Fields left out are left as they are.</summary>
internal sealed record UpdateEventEndpointRequest
{
    public string Id { get; init; } = "";

    public string? Url { get; init; }

    /// <summary>Replaces the filter; empty or <c>["*"]</c>: every type.</summary>
    public List<string>? EventTypes { get; init; }

    /// <summary>Empty removes it.</summary>
    public string? Description { get; init; }

    /// <summary>false disables the endpoint (nothing is delivered to it); true is the same as <c>…/enable</c>.</summary>
    public bool? Enabled { get; init; }

    /// <summary>1–10000, or 0 to remove the endpoint's own limit.</summary>
    public int? RateLimitPerSecond { get; init; }

    public EventEndpointChanges ToChanges() => new(Url, EventTypes, Description, Enabled, RateLimitPerSecond);

    public sealed class Validator : Validator<UpdateEventEndpointRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Url).NotEmpty().When(r => r.Url is not null).WithMessage("url must not be empty when given.");
            this.AddEndpointFieldRules(r => r.Url, r => r.EventTypes, r => r.Description, r => r.RateLimitPerSecond, allowZeroRate: true);
        }
    }
}

/// <summary><c>PATCH /v1/admin/event-endpoints/{id}</c>.</summary>
internal sealed class UpdateEventEndpoint(EventEndpointStore store) : Endpoint<UpdateEventEndpointRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Patch("/v1/admin/event-endpoints/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Change an operator's event endpoint (url, event types, description, enabled, rate limit).");
        Description(d => d.Problems(404, 422));
    }

    public override async Task HandleAsync(UpdateEventEndpointRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.UpdateAsync(EndpointOwner.Operator, req.Id, req.ToChanges(), ct), ct);
}
