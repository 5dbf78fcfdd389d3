namespace Backstop.Features.Quota;

/// <summary>The rules the consume and release bodies share, so both refuse the same input with the same messages.</summary>
internal static class UsageChangeRules
{
    public static void Apply<T>(AbstractValidator<T> validator) where T : IUsageChange
    {
        validator.RuleFor(r => r.Amount).InclusiveBetween(1, 1_000_000_000_000).WithMessage("amount must be between 1 and 10^12.");
        validator.RuleFor(r => r.IdempotencyKey).MaximumLength(255).WithMessage("idempotencyKey must be at most 255 characters.");
        validator.RuleFor(r => r.IdempotencyKey!).NotEmpty().When(r => r.IdempotencyKey is not null).WithMessage("idempotencyKey must not be empty when given.");
        validator.RuleFor(r => r.IdempotencyKey).NoControlCharacters("idempotencyKey");
    }
}
