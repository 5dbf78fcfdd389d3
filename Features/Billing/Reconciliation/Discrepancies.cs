using System.Net;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.Reconciliation;

/// <summary>
/// One open row per (provider, subscription, field) in <c>billing_discrepancies</c>: recorded (or seen again: its
/// values and <c>last_seen_at</c> move) in the caller's transaction; an alert to <c>Billing:AlertEmail</c> only when the
/// row is new, keyed by the row, so a redelivered event or a second run alerts nobody twice.
/// </summary>
internal sealed class Discrepancies(IOutbox outbox, IOptions<BillingOptions> options, TimeProvider time, ILogger<Discrepancies> log)
{
    /// <summary>Records the discrepancy; answers true when it is new (no open row of that subscription and field before).</summary>
    public async Task<bool> RecordAsync(DbConnection connection, DbTransaction tx, string provider, string? organizationId, string subscriptionId,
        string field, string? ours, string? theirs, bool alert, bool repaired, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var id = Ids.New(time);
        var stored = await connection.QuerySingleAsync<string>(new CommandDefinition(
            """
            insert into billing_discrepancies (id, organization_id, provider_subscription_id, field, ours, stripe, found_at, repaired,
                                               created_at, updated_at, provider, first_seen_at, last_seen_at)
            values (@id, @organizationId, @subscriptionId, @field, @ours, @theirs, @now, @repaired, @now, @now, @provider, @now, @now)
            on conflict (provider, provider_subscription_id, field) where not resolved do update
                set ours = excluded.ours, stripe = excluded.stripe, last_seen_at = excluded.last_seen_at, repaired = excluded.repaired,
                    organization_id = coalesce(excluded.organization_id, billing_discrepancies.organization_id), updated_at = excluded.updated_at
            returning id
            """, new { id, organizationId, subscriptionId, field, ours, theirs, now, repaired, provider }, tx, cancellationToken: ct));
        var isNew = stored == id;
        log.LogWarning("Billing discrepancy ({Provider} subscription {SubscriptionId}, organization {OrganizationId}): {Field} ours {Ours}, provider {Theirs}{Repaired}{Seen}",
            provider, subscriptionId, organizationId, field, ours ?? "(none)", theirs ?? "(none)", repaired ? " (repaired)" : "", isNew ? "" : " (seen again)");
        if (isNew && alert && !string.IsNullOrWhiteSpace(options.Value.AlertEmail))
        {
            var subject = $"Billing alert: {field} on {provider} subscription {subscriptionId}";
            var text = $"Backstop found a billing discrepancy it did not apply.\n\nProvider: {provider}\nSubscription: {subscriptionId}\n"
                       + $"Organization: {organizationId ?? "(none)"}\nField: {field}\nOurs: {ours ?? "(none)"}\nProvider's: {theirs ?? "(none)"}\n\n"
                       + "See GET /v1/admin/billing/discrepancies.";
            var html = "<pre>" + WebUtility.HtmlEncode(text) + "</pre>";
            await outbox.EnqueueAsync(connection, tx,
                OutboxEmail.Create($"billing-discrepancy:{stored}", options.Value.AlertEmail.Trim(), new EmailContent(subject, text, html), subscriptionId), ct);
        }
        return isNew;
    }

    /// <summary>Marks the open rows of the subscription's fields not in <paramref name="stillDifferent"/> resolved (reconciliation found them equal).</summary>
    public Task<int> ResolveAsync(DbConnection connection, DbTransaction tx, string provider, string subscriptionId, IReadOnlyCollection<string> fields,
        CancellationToken ct) =>
        fields.Count == 0
            ? Task.FromResult(0)
            : connection.ExecuteAsync(new CommandDefinition(
                """
                update billing_discrepancies set resolved = @yes, resolved_at = @now, updated_at = @now
                where provider = @provider and provider_subscription_id = @subscriptionId and not resolved and field = @field
                """, fields.Select(field => new { yes = true, now = time.GetUtcNow(), provider, subscriptionId, field }).ToArray(), tx, cancellationToken: ct));
}
