using Backstop.Tests.Features.Quota;

namespace Backstop.Tests.Infrastructure.Data;

/// <summary>
/// What the query plan tests (PostgreSQL's <see cref="QueryPlanTests"/>, SQLite's <see cref="SqliteQueryPlanTests"/>)
/// make the service run: every list the API and the operator serve (each filter, first and a later page) and every
/// recurring job, once.
/// </summary>
internal static class QueryPlanDriver
{
    /// <summary>Drives every list and job; returns the requests that were refused (each should have been served).</summary>
    public static async Task<List<string>> DriveListsAndJobsAsync(BackstopFactory app)
    {
        var admin = app.AdminClient();
        var tenant = await app.CreateTenantAsync("read", "write", "admin");
        var client = app.Client(tenant);
        var refused = new List<string>();
        var metric = await app.DeclareMetricAsync("counter", 1000);
        (await client.ConsumeAsync(metric, 1, "k-" + Guid.NewGuid().ToString("N"))).EnsureSuccessStatusCode();
        // A later page: lists are keyed by UUIDs, events by their evt_ ids.
        var uuidCursor = "cursor=" + Paging.Encode(Guid.CreateVersion7().ToString());
        var eventCursor = "cursor=" + Paging.Encode("evt_" + Guid.CreateVersion7().ToString("N"));
        string Later(string path) =>
            path + (path.Contains('?') ? "&" : "?") + (path.Contains("/events", StringComparison.Ordinal) ? eventCursor : uuidCursor);
        var org = tenant.OrganizationId;

        string[] adminLists =
        [
            "/v1/admin/webhooks", "/v1/admin/webhooks?provider=stripe", "/v1/admin/webhooks?status=failed",
            "/v1/admin/webhooks?status=dead", "/v1/admin/webhooks?provider=stripe&status=failed", "/v1/admin/webhooks?type=invoice.paid",
            "/v1/admin/webhooks?provider=stripe&type=invoice.paid",
            "/v1/admin/outbox", "/v1/admin/outbox?status=dead", "/v1/admin/outbox?channel=email", "/v1/admin/outbox?status=dead&channel=email",
            "/v1/admin/audit", $"/v1/admin/audit?organizationId={org}", "/v1/admin/audit?actor=admin", "/v1/admin/audit?action=organization.create",
            "/v1/admin/organizations", $"/v1/admin/organizations/{org}/api-keys", $"/v1/admin/organizations/{org}/members",
            "/v1/admin/events", $"/v1/admin/events?organizationId={org}", "/v1/admin/events?type=subscription.canceled",
            "/v1/admin/event-endpoints",
            "/v1/admin/billing/discrepancies", $"/v1/admin/billing/discrepancies?organizationId={org}",
            "/v1/admin/billing/disputes", $"/v1/admin/billing/disputes?organizationId={org}", "/v1/admin/billing/disputes?status=needs_response",
            "/v1/admin/usage/drift", $"/v1/admin/usage/drift?organizationId={org}", $"/v1/admin/usage/drift?metric={metric}",
            "/v1/admin/sms/opt-outs", "/v1/admin/sms/opt-outs?phoneNumber=%2B14155550100",
            "/v1/admin/sms/consent-audit", "/v1/admin/sms/consent-audit?phoneNumber=%2B14155550100",
            "/v1/admin/jobs", "/v1/admin/cleanup",
        ];
        foreach (var path in adminLists)
        {
            foreach (var url in new[] { path, Later(path) })
            {
                var response = await admin.GetAsync(url);
                if ((int)response.StatusCode >= 300) refused.Add($"{url}: {await response.Content.ReadAsStringAsync()}");
            }
        }

        string[] tenantLists =
        [
            "/v1/me", "/v1/meetings", "/v1/meetings?status=recording", "/v1/api-keys", "/v1/usage", $"/v1/usage/{metric}",
            $"/v1/usage/{metric}/history", "/v1/events", "/v1/events?type=subscription.canceled", "/v1/event-endpoints",
            "/v1/billing/subscription", "/v1/billing/access", "/v1/billing/violations",
        ];
        foreach (var path in tenantLists)
        {
            foreach (var url in path.StartsWith("/v1/meetings") || path is "/v1/api-keys" or "/v1/events" or "/v1/event-endpoints"
                         ? new[] { path, Later(path) }
                         : [path])
            {
                var response = await client.GetAsync(url);
                // No subscription yet is 404 no_subscription, after the query ran.
                if ((int)response.StatusCode >= 300 && !(url == "/v1/billing/subscription" && (int)response.StatusCode == 404))
                    refused.Add($"{url}: {await response.Content.ReadAsStringAsync()}");
            }
        }

        // Every recurring job (the sweeps, the repairs, the reconciliations), run once.
        var jobs = await (await admin.GetAsync("/v1/admin/jobs")).JsonAsync();
        var ran = 0;
        foreach (var job in jobs.GetProperty("jobs").EnumerateArray())
        {
            var id = job.GetProperty("id").GetString()!;
            var response = await admin.PostAsync($"/v1/admin/jobs/{id}/run", null);
            if ((int)response.StatusCode >= 300) refused.Add($"run {id}: {await response.Content.ReadAsStringAsync()}");
            ran++;
        }
        ran.ShouldBeGreaterThan(10);

        return refused;
    }
}
