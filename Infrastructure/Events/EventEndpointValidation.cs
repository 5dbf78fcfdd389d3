using FastEndpoints;

namespace Backstop.Infrastructure.Events;

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
