namespace Backstop.Features.Quota;

/// <summary>The body of a consume or a release: how much, and the key a retry repeats.</summary>
internal interface IUsageChange
{
    long Amount { get; }
    string? IdempotencyKey { get; }
}
