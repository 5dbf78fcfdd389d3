using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Security;
using FastEndpoints;
using FluentValidation;

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

internal static class EventEndpointValidation
{
    public const int MaxDescriptionLength = 500;
    public const int MaxFilterEntries = 50;

    /// <summary>The shape of an endpoint's fields (lengths, counts, ranges): 400. What they mean (URL target, catalogue) is checked by <see cref="EventEndpointRules"/>: 422.</summary>
    public static void AddEndpointFieldRules<T>(this AbstractValidator<T> v, System.Linq.Expressions.Expression<Func<T, string?>> url,
        System.Linq.Expressions.Expression<Func<T, IEnumerable<string>?>> eventTypes, System.Linq.Expressions.Expression<Func<T, string?>> description,
        System.Linq.Expressions.Expression<Func<T, int?>> rate, bool allowZeroRate)
    {
        v.RuleFor(url).MaximumLength(EventEndpointRules.MaxUrlLength).WithMessage($"url must be at most {EventEndpointRules.MaxUrlLength} characters.");
        v.RuleFor(eventTypes).Must(t => t is null || t.Count() <= MaxFilterEntries).WithMessage($"eventTypes holds at most {MaxFilterEntries} entries.");
        v.RuleForEach<string>(eventTypes!).NotEmpty().WithMessage("eventTypes entries must not be empty.");
        v.RuleFor(description).MaximumLength(MaxDescriptionLength).WithMessage($"description must be at most {MaxDescriptionLength} characters.");
        v.RuleFor(description).NoControlCharacters("description");
        var min = allowZeroRate ? 0 : 1;
        v.RuleFor(rate).InclusiveBetween(min, 10_000).When(r => rate.Compile()(r) is not null)
            .WithMessage(allowZeroRate ? "rateLimitPerSecond must be between 1 and 10000, or 0 to remove the limit." : "rateLimitPerSecond must be between 1 and 10000.");
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

/// <summary><c>POST /v1/event-endpoints</c>: an organization's endpoint (scope admin), receiving only its own events.</summary>
internal sealed class CreateOwnEventEndpoint(EventEndpointStore store) : Endpoint<CreateEventEndpointRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Register an event endpoint of the caller's organization, receiving its events (scope admin; the secret is shown only in this response).");
        Description(d => d.Answers<EventEndpointWithSecretResponse>(201).Problems(409, 422));
    }

    public override async Task HandleAsync(CreateEventEndpointRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await store.CreateAsync(new EndpointOwner(User.OrganizationId()), req.ToChanges(), ct), 201, ct);
    }
}
