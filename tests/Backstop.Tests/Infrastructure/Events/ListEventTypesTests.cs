using Backstop.Infrastructure.Events;

namespace Backstop.Tests.Infrastructure.Events;

public abstract class ListEventTypesTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task The_catalogue_lists_every_type_with_its_description_and_data_schema_to_any_key_and_the_admin_key()
    {
        var tenant = await App.CreateTenantAsync("read");
        (await App.CreateClient().GetAsync("/v1/event-types")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var admin = await App.AdminClient().GetAsync("/v1/event-types");
        admin.StatusCode.ShouldBe(HttpStatusCode.OK);
        var response = await App.Client(tenant).GetAsync("/v1/event-types");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var types = (await response.JsonAsync()).GetProperty("types").EnumerateArray().ToList();

        types.Select(t => t.GetProperty("type").GetString()).ShouldBe(EventTypes.All.Keys, ignoreOrder: true);
        foreach (var t in types)
        {
            var name = t.GetProperty("type").GetString()!;
            t.GetProperty("description").GetString().ShouldBe(EventTypes.All[name]);
            t.GetProperty("schema").GetProperty("properties").EnumerateObject().ShouldNotBeEmpty(name);
        }
        var pastDue = types.Single(t => t.GetProperty("type").GetString() == EventTypes.SubscriptionPastDue).GetProperty("schema").GetProperty("properties");
        pastDue.TryGetProperty("status", out _).ShouldBeTrue();
        pastDue.TryGetProperty("graceEndsAt", out _).ShouldBeTrue();
        var keyCreated = types.Single(t => t.GetProperty("type").GetString() == EventTypes.ApiKeyCreated).GetProperty("schema").GetProperty("properties");
        keyCreated.TryGetProperty("prefix", out _).ShouldBeTrue();
        keyCreated.TryGetProperty("key", out _).ShouldBeFalse();
        var threshold = types.Single(t => t.GetProperty("type").GetString() == EventTypes.UsageThresholdReached).GetProperty("schema").GetProperty("properties");
        threshold.TryGetProperty("threshold", out _).ShouldBeTrue();
        threshold.GetProperty("usage").GetProperty("properties").TryGetProperty("used", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task The_OpenAPI_document_holds_each_type_s_data_schema()
    {
        var document = await (await App.CreateClient().GetAsync("/openapi/v1.json")).JsonAsync();
        var schemas = document.GetProperty("components").GetProperty("schemas");
        foreach (var type in EventTypes.All.Keys)
        {
            schemas.TryGetProperty(EventDataTypes.ComponentName(type), out var schema).ShouldBeTrue(type);
            schema.GetProperty("description").GetString()!.ShouldContain(type);
            var reference = schema.GetProperty("allOf")[0].GetProperty("$ref").GetString()!;
            schemas.TryGetProperty(reference.Split('/')[^1], out var target).ShouldBeTrue(reference);
            target.GetProperty("properties").EnumerateObject().ShouldNotBeEmpty(type);
        }
        EventDataTypes.ComponentName(EventTypes.SubscriptionPastDue).ShouldBe("SubscriptionPastDueEventData");
        schemas.GetProperty(EventDataTypes.ComponentName(EventTypes.SubscriptionPastDue)).GetProperty("allOf")[0].GetProperty("$ref").GetString()
            .ShouldBe("#/components/schemas/SubscriptionResponse");
    }
}

public sealed class ListEventTypesTestsOnSqlite(SqliteApp<DefaultSetup> app) : ListEventTypesTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ListEventTypesTestsOnPostgres(PostgresApp<DefaultSetup> app) : ListEventTypesTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
