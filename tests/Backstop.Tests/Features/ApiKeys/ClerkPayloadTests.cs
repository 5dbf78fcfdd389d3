using Backstop.Features.ApiKeys.Clerk;

namespace Backstop.Tests.Features.ApiKeys;

public sealed class ClerkPayloadTests
{
    [Fact]
    public void User_created_makes_a_personal_organization_named_after_the_user_with_the_user_as_owner()
    {
        var request = ClerkPayloads.PersonalOrganization("""
            {"type":"user.created","object":"event","timestamp":1716883200000,"data":{
              "id":"user_29w83sxmDNGwOuEthce5gg56FcC","first_name":"Ada","last_name":"Lovelace",
              "primary_email_address_id":"idn_2",
              "email_addresses":[{"id":"idn_1","email_address":"old@example.com"},{"id":"idn_2","email_address":"ada@example.com"}]}}
            """);
        request.ExternalOrganizationId.ShouldBe("user_29w83sxmDNGwOuEthce5gg56FcC");
        request.ExternalUserId.ShouldBe("user_29w83sxmDNGwOuEthce5gg56FcC");
        request.OrganizationName.ShouldBe("Ada Lovelace");
        request.DisplayName.ShouldBe("Ada Lovelace");
        request.Email.ShouldBe("ada@example.com");
        request.Role.ShouldBe("owner");
        request.OrganizationSlug.ShouldBeNull();
    }

    [Fact]
    public void User_created_without_a_name_is_named_after_its_email_and_without_either_after_its_id()
    {
        var byEmail = ClerkPayloads.PersonalOrganization("""
            {"type":"user.created","data":{"id":"user_1","first_name":null,"last_name":null,
              "email_addresses":[{"id":"idn_1","email_address":"first@example.com"}]}}
            """);
        byEmail.OrganizationName.ShouldBe("first@example.com");
        byEmail.DisplayName.ShouldBeNull();
        byEmail.Email.ShouldBe("first@example.com");

        var bare = ClerkPayloads.PersonalOrganization("""{"type":"user.created","data":{"id":"user_2"}}""");
        bare.OrganizationName.ShouldBe("user_2");
        bare.Email.ShouldBeNull();
    }

    [Fact]
    public void User_created_without_an_id_is_refused()
    {
        Should.Throw<ClerkPayloadException>(() => ClerkPayloads.PersonalOrganization("""{"type":"user.created","data":{"first_name":"x"}}"""));
        Should.Throw<ClerkPayloadException>(() => ClerkPayloads.PersonalOrganization("""{"type":"user.created"}"""));
    }

    [Fact]
    public void Membership_created_carries_the_organization_the_user_and_the_mapped_role()
    {
        var request = ClerkPayloads.Membership("""
            {"type":"organizationMembership.created","data":{
              "id":"orgmem_1","role":"org:admin",
              "organization":{"id":"org_abc","name":"Acme","slug":"acme"},
              "public_user_data":{"user_id":"user_9","identifier":"bob@acme.test","first_name":"Bob","last_name":null}}}
            """);
        request.ExternalOrganizationId.ShouldBe("org_abc");
        request.OrganizationName.ShouldBe("Acme");
        request.OrganizationSlug.ShouldBe("acme");
        request.ExternalUserId.ShouldBe("user_9");
        request.Email.ShouldBe("bob@acme.test");
        request.DisplayName.ShouldBe("Bob");
        request.Role.ShouldBe("admin");
    }

    [Fact]
    public void Membership_without_organization_or_user_is_refused()
    {
        Should.Throw<ClerkPayloadException>(() => ClerkPayloads.Membership("""{"data":{"role":"admin","public_user_data":{"user_id":"u"}}}"""));
        Should.Throw<ClerkPayloadException>(() => ClerkPayloads.Membership("""{"data":{"role":"admin","organization":{"id":"org_1"}}}"""));
    }

    [Theory]
    [InlineData("admin", "admin")]
    [InlineData("org:admin", "admin")]
    [InlineData("basic_member", "member")]
    [InlineData("org:member", "member")]
    [InlineData("org:billing_manager", "member")]
    [InlineData(null, "member")]
    public void Clerk_roles_map_to_backstop_roles_with_unknown_ones_as_members(string? clerkRole, string expected) =>
        ClerkPayloads.MapRole(clerkRole).ShouldBe(expected);

    [Fact]
    public void User_deleted_carries_the_user_id()
    {
        ClerkPayloads.DeletedUserId("""{"type":"user.deleted","data":{"deleted":true,"id":"user_7","object":"user"}}""").ShouldBe("user_7");
    }
}
