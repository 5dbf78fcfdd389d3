using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FastEndpoints;

namespace Backstop.Tests.Infrastructure;

/// <summary>What every answer carries: UTF-8 JSON with every property, and a request id.</summary>
public abstract class ResponseFormatTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Json_responses_are_utf8_with_every_property_of_their_runtime_type_nulls_included()
    {
        var tenant = await App.CreateTenantAsync();
        var me = await App.Client(tenant).GetAsync("/v1/me");
        me.StatusCode.ShouldBe(HttpStatusCode.OK);
        me.Content.Headers.ContentType!.ToString().ShouldBe("application/json; charset=utf-8");
        var body = System.Text.Json.JsonDocument.Parse(await me.Content.ReadAsStringAsync()).RootElement;
        body.EnumerateObject().Select(p => p.Name).ShouldBe(["organization", "key"]);
        body.GetProperty("organization").EnumerateObject().Select(p => p.Name).ShouldBe(["id", "slug", "name"]);
        body.GetProperty("organization").GetProperty("id").GetString().ShouldBe(tenant.OrganizationId);
        body.GetProperty("key").GetProperty("prefix").GetString().ShouldBe(tenant.ApiKey.Prefix);
        // Its generated serializer writes what the API's own options write for the same values.
        var options = App.Services.GetRequiredService<FastEndpoints.Config>().Serializer.Options;
        var text = body.GetRawText();
        System.Text.Json.JsonSerializer.Serialize(
            System.Text.Json.JsonSerializer.Deserialize<Backstop.Features.ApiKeys.MeResponse>(text, options), options).ShouldBe(text);
        me.Content.Headers.ContentLength.ShouldBe(System.Text.Encoding.UTF8.GetByteCount(text));

        var keys = await App.AdminClient().GetAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys");
        keys.Content.Headers.ContentType!.ToString().ShouldBe("application/json; charset=utf-8");
        (await keys.Content.ReadAsStringAsync()).ShouldContain("\"expiresAt\":null");

        var invalid = await App.AdminClient().PostAsync("/v1/admin/organizations",
            new StringContent("""{"name":""}""", System.Text.Encoding.UTF8, "application/json"));
        invalid.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        invalid.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
    }

    [Fact]
    public async Task Every_response_carries_a_request_id()
    {
        var generated = await App.CreateClient().GetAsync("/health/live");
        generated.Headers.GetValues("X-Request-Id").Single().Length.ShouldBeGreaterThan(8);

        var client = App.CreateClient();
        client.DefaultRequestHeaders.Add("X-Request-Id", "abc-123");
        (await client.GetAsync("/v1/nothing")).Headers.GetValues("X-Request-Id").Single().ShouldBe("abc-123");

        var forged = App.CreateClient();
        forged.DefaultRequestHeaders.TryAddWithoutValidation("X-Request-Id", "bad id\twith spaces");
        (await forged.GetAsync("/health/live")).Headers.GetValues("X-Request-Id").Single().ShouldNotContain(" ");
    }
}

public sealed class ResponseFormatTestsOnSqlite(SqliteApp<DefaultSetup> app) : ResponseFormatTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ResponseFormatTestsOnPostgres(PostgresApp<DefaultSetup> app) : ResponseFormatTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
