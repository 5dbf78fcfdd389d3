using System.Data;
using System.Text;
using FastEndpoints;

namespace Backstop.Infrastructure.Data;

internal static class PagingValidation
{
    public static void AddPagingRules<T>(this AbstractValidator<T> validator) where T : PageRequest
    {
        validator.RuleFor(r => r.Limit).InclusiveBetween(1, 100).When(r => r.Limit is not null)
            .WithMessage("limit must be between 1 and 100.");
        validator.RuleFor(r => r.Cursor).Must(Paging.IsValidCursor).WithErrorCode("invalid_cursor")
            .WithMessage("cursor is not a cursor this API returned; pass nextCursor of a previous page unchanged, or leave it out for the first page.");
    }
}
