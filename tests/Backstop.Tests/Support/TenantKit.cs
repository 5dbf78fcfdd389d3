using System.Net.Http.Json;

namespace Backstop.Tests.Support;

public sealed record TestOrganization(string Id, string Slug, string Name);

public sealed record TestApiKey(string Id, string Key, string Prefix, string OrganizationId, IReadOnlyList<string> Scopes);

/// <summary>An organization with one key; <see cref="Client"/> calls as that key.</summary>
public sealed record TestTenant(TestOrganization Organization, TestApiKey ApiKey)
{
    public string OrganizationId => Organization.Id;
    public string Key => ApiKey.Key;
}

/// <summary>
/// Builders for tests of every slice: organizations and keys made through the admin HTTP API, exactly as an
/// operator would, with unique names so tests can run in any order.
/// </summary>
public static class TenantKit
{
    public static async Task<TestOrganization> CreateOrganizationAsync(this BackstopFactory app, string? name = null, string? slug = null)
    {
        var response = await app.AdminClient().PostJsonAsync("/v1/admin/organizations",
            new { name = name ?? "org-" + Guid.NewGuid().ToString("N")[..12], slug });
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 201) throw new InvalidOperationException($"Creating an organization answered {(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement;
        return new TestOrganization(json.GetProperty("id").GetString()!, json.GetProperty("slug").GetString()!, json.GetProperty("name").GetString()!);
    }

    /// <summary>A key of <paramref name="organizationId"/>; no scopes given means the default (read, write).</summary>
    public static async Task<TestApiKey> CreateApiKeyAsync(this BackstopFactory app, string organizationId, params string[] scopes)
    {
        var response = await app.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/api-keys",
            new { name = "key-" + Guid.NewGuid().ToString("N")[..8], scopes = scopes.Length == 0 ? null : scopes });
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 201) throw new InvalidOperationException($"Creating an API key answered {(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement;
        return new TestApiKey(json.GetProperty("id").GetString()!, json.GetProperty("key").GetString()!, json.GetProperty("prefix").GetString()!,
            organizationId, json.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()!).ToList());
    }

    /// <summary>A fresh organization and one key with these scopes (default: read, write).</summary>
    public static async Task<TestTenant> CreateTenantAsync(this BackstopFactory app, params string[] scopes)
    {
        var organization = await app.CreateOrganizationAsync();
        return new TestTenant(organization, await app.CreateApiKeyAsync(organization.Id, scopes));
    }

    public static HttpClient Client(this BackstopFactory app, TestTenant tenant) => app.ClientWithKey(tenant.Key);
}
