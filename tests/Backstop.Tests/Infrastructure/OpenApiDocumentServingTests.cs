using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FastEndpoints;

namespace Backstop.Tests.Infrastructure;

/// <summary>/openapi/v1.json and /docs are served (the document's rules: OpenApiTests).</summary>
public abstract class OpenApiDocumentServingTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task OpenApi_document_describes_the_endpoints_and_docs_are_served()
    {
        var response = await App.CreateClient().GetAsync("/openapi/v1.json");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var json = await response.JsonAsync();
        json.GetProperty("paths").TryGetProperty("/v1/admin/jobs", out _).ShouldBeTrue();
        json.GetProperty("paths").TryGetProperty("/v1/admin/jobs/{id}/run", out _).ShouldBeTrue();
        json.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString().ShouldBe("bearer");
        // Per operation, not document-wide: webhooks and health are anonymous (see OpenApiTests).
        json.GetProperty("paths").GetProperty("/v1/admin/jobs").GetProperty("get").GetProperty("security")[0].TryGetProperty("bearer", out _).ShouldBeTrue();

        var docs = await App.CreateClient().GetAsync("/docs/v1");
        docs.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await docs.Content.ReadAsStringAsync()).ShouldContain("openapi/v1.json");
    }
}

public sealed class OpenApiDocumentServingTestsOnSqlite(SqliteApp<DefaultSetup> app) : OpenApiDocumentServingTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class OpenApiDocumentServingTestsOnPostgres(PostgresApp<DefaultSetup> app) : OpenApiDocumentServingTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
