using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// The organization's Stripe customer, created once. Two things make "once" hold: the idempotency key
/// <c>customer:{organizationId}</c> (every instance and every retry asks Stripe for the same creation, so Stripe
/// answers them all with one customer for 24 hours) and the primary key of <c>billing_customers</c> (the first stored
/// row is the organization's customer for good). Within an instance, creations for one organization also queue behind
/// each other, so concurrent checkouts make one call to Stripe, not one each that Stripe must deduplicate.
/// A customer created at Stripe whose row could not be stored is found again by the next checkout through the same key
/// (within Stripe's 24 hours; after that an unused customer may be left at Stripe, which costs nothing).
/// </summary>
internal sealed class StripeCustomers(Db db, StripeApi api, TimeProvider time)
{
    private readonly SemaphoreSlim[] stripes = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    public async Task<string> EnsureAsync(string organizationId, CancellationToken ct)
    {
        var gate = stripes[(int)((uint)StringComparer.Ordinal.GetHashCode(organizationId) % stripes.Length)];
        await gate.WaitAsync(ct);
        try
        {
            if (await FindAsync(organizationId, ct) is { } known) return known;
            var customer = await new CustomerService(api.Client).CreateAsync(new CustomerCreateOptions
            {
                Metadata = new Dictionary<string, string> { ["organization_id"] = organizationId },
            }, StripeApi.Idempotent("customer:" + organizationId), ct);
            await using var connection = await db.OpenAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into billing_customers (organization_id, provider, customer_id, created_at)
                values (@organizationId, 'stripe', @customerId, @now)
                on conflict do nothing
                """, new { organizationId, customerId = customer.Id, now = time.GetUtcNow() }, cancellationToken: ct));
            return await FindAsync(organizationId, ct) ?? throw new InvalidOperationException("The organization's billing customer was not stored.");
        }
        finally
        {
            gate.Release();
        }
    }

    private sealed record CustomerRow
    {
        public string Provider { get; init; } = "";
        public string CustomerId { get; init; } = "";
    }

    private async Task<string?> FindAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<CustomerRow>(new CommandDefinition(
            "select provider, customer_id from billing_customers where organization_id = @organizationId", new { organizationId }, cancellationToken: ct));
        if (row is { Provider: not "stripe" })
            throw new ProblemException(409, "billing_provider_conflict",
                $"This organization is billed through {row.Provider}; it cannot also check out with Stripe.");
        return row?.CustomerId;
    }
}
