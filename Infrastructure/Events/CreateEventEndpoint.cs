using FastEndpoints;

namespace Backstop.Infrastructure.Events;

internal sealed record CreateEventEndpointRequest
{
    /// <summary>Where events are POSTed: an absolute https URL whose host resolves to a public address.</summary>
    public string Url { get; init; } = "";

    /// <summary>Exact types or prefixes (<c>meeting.*</c>) from <c>GET /v1/event-types</c>; left out, empty or <c>["*"]</c>: every type.</summary>
    public List<string>? EventTypes { get; init; }

    public string? Description { get; init; }

    /// <summary>Default true.</summary>
    public bool? Enabled { get; init; }

    /// <summary>Deliveries per second to this endpoint at most (1–10000); left out: no limit of its own.</summary>
    public int? RateLimitPerSecond { get; init; }

    public EventEndpointChanges ToChanges() => new(Url, EventTypes, Description, Enabled, RateLimitPerSecond);

    public sealed class Validator : Validator<CreateEventEndpointRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Url).NotEmpty().WithMessage("url is required.");
            this.AddEndpointFieldRules(r => r.Url, r => r.EventTypes, r => r.Description, r => r.RateLimitPerSecond, allowZeroRate: false);
        }
    }
}

/// <summary><c>POST /v1/admin/event-endpoints</c>: an operator's endpoint, receiving every organization's events. The secret is in this answer only.</summary>
internal sealed class CreateEventEndpoint(EventEndpointStore store) : Endpoint<CreateEventEndpointRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Register an operator's event endpoint receiving every organization's events (its signing secret is shown only in this response).");
        Description(d => d.Answers<EventEndpointWithSecretResponse>(201).Problems(409, 422));
    }

    public override async Task HandleAsync(CreateEventEndpointRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await store.CreateAsync(EndpointOwner.Operator, req.ToChanges(), ct), 201, ct);
    }
}
