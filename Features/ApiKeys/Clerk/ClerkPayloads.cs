using Backstop.Features.ApiKeys;

namespace Backstop.Features.ApiKeys.Clerk;

/// <summary>Reads Clerk's event envelopes (<c>{type, data, object: "event", timestamp}</c>) into provisioning requests.</summary>
internal static class ClerkPayloads
{
    /// <summary><c>user.created</c>: a personal organization whose external id is the user id, with the user as owner.</summary>
    public static ProvisionRequest PersonalOrganization(string payload)
    {
        using var document = JsonDocument.Parse(payload);
        var data = Data(document);
        var userId = Required(data, "id", "data.id");
        var displayName = FullName(String(data, "first_name"), String(data, "last_name"));
        var email = PrimaryEmail(data);
        return new ProvisionRequest(
            ExternalOrganizationId: userId,
            OrganizationName: displayName ?? email ?? userId,
            OrganizationSlug: null,
            ExternalUserId: userId,
            Email: email,
            DisplayName: displayName,
            Role: "owner");
    }

    /// <summary><c>organizationMembership.created</c>: the organization and the member with the mapped role.</summary>
    public static ProvisionRequest Membership(string payload)
    {
        using var document = JsonDocument.Parse(payload);
        var data = Data(document);
        var organization = Object(data, "organization") ?? throw new ClerkPayloadException("data.organization is missing.");
        var user = Object(data, "public_user_data") ?? throw new ClerkPayloadException("data.public_user_data is missing.");
        var organizationId = Required(organization, "id", "data.organization.id");
        var userId = Required(user, "user_id", "data.public_user_data.user_id");
        var displayName = FullName(String(user, "first_name"), String(user, "last_name"));
        var identifier = String(user, "identifier");
        return new ProvisionRequest(
            ExternalOrganizationId: organizationId,
            OrganizationName: String(organization, "name") ?? String(organization, "slug") ?? organizationId,
            OrganizationSlug: String(organization, "slug"),
            ExternalUserId: userId,
            Email: identifier is not null && identifier.Contains('@') ? identifier : null,
            DisplayName: displayName,
            Role: MapRole(String(data, "role")));
    }

    /// <summary><c>user.deleted</c>: the deleted user's id.</summary>
    public static string DeletedUserId(string payload)
    {
        using var document = JsonDocument.Parse(payload);
        return Required(Data(document), "id", "data.id");
    }

    /// <summary>
    /// Clerk's older roles are <c>admin</c>/<c>basic_member</c>, newer ones <c>org:admin</c>/<c>org:member</c>.
    /// Anything else (custom roles such as <c>org:billing</c>) becomes a plain member: least privilege.
    /// </summary>
    public static string MapRole(string? role) => role?.Trim().ToLowerInvariant() switch
    {
        "admin" or "org:admin" => "admin",
        _ => "member",
    };

    private static JsonElement Data(JsonDocument document) =>
        document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object
            ? data
            : throw new ClerkPayloadException("The event has no data object.");

    private static string? PrimaryEmail(JsonElement data)
    {
        if (!data.TryGetProperty("email_addresses", out var emails) || emails.ValueKind != JsonValueKind.Array) return null;
        var primaryId = String(data, "primary_email_address_id");
        string? first = null;
        foreach (var entry in emails.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Object) continue;
            var address = String(entry, "email_address");
            if (address is null) continue;
            if (primaryId is not null && String(entry, "id") == primaryId) return address;
            first ??= address;
        }
        return first;
    }

    private static string? FullName(string? first, string? last)
    {
        var name = $"{first} {last}".Trim();
        return name.Length > 0 ? name : null;
    }

    private static JsonElement? Object(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : null;

    private static string Required(JsonElement element, string name, string path) =>
        String(element, name) ?? throw new ClerkPayloadException($"{path} is missing.");

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { } s && s.Trim().Length > 0
            ? s.Trim()
            : null;
}
