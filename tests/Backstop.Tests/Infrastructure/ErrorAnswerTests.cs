using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FastEndpoints;

namespace Backstop.Tests.Infrastructure;

/// <summary>Refusals and failures answer problem details, never internals (with the test host's failing endpoints).</summary>
public abstract class ErrorAnswerTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Admin_endpoints_refuse_a_request_without_or_with_a_wrong_key()
    {
        var anonymous = await App.CreateClient().GetAsync("/v1/admin/jobs");
        await anonymous.ShouldBeProblemAsync(401, "unauthorized");
        anonymous.Headers.WwwAuthenticate.ToString().ShouldContain("Bearer");

        var wrong = await App.ClientWithKey("not-the-admin-key-not-the-admin-key-123").GetAsync("/v1/admin/jobs");
        await wrong.ShouldBeProblemAsync(401, "invalid_api_key");

        (await App.AdminClient().GetAsync("/v1/admin/jobs")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Unknown_route_is_a_404_problem()
    {
        var response = await App.CreateClient().GetAsync("/v1/nothing-here");
        var problem = await response.ShouldBeProblemAsync(404, "not_found");
        problem.GetProperty("type").GetString().ShouldNotBeNullOrEmpty();
        problem.GetProperty("title").GetString().ShouldBe("Not Found");
        problem.GetProperty("instance").GetString().ShouldBe("/v1/nothing-here");
    }

    [Fact]
    public async Task Invalid_query_is_a_400_problem_naming_the_field()
    {
        var response = await App.AdminClient().GetAsync("/v1/admin/jobs?limit=1000");
        var problem = await response.ShouldBeProblemAsync(400, "validation_failed");
        problem.GetProperty("errors").GetProperty("limit")[0].GetString()!.ShouldContain("between 1 and 100");
    }

    /// <summary>A 500 problem+json that names the request id in its body and header; answers the body.</summary>
    private static async Task<string> InternalErrorAsync(HttpClient client, string path, string requestId)
    {
        client.DefaultRequestHeaders.Add("X-Request-Id", requestId);
        var response = await client.GetAsync(path);
        var problem = await response.ShouldBeProblemAsync(500, "internal_error");
        problem.GetProperty("requestId").GetString().ShouldBe(requestId);
        response.Headers.GetValues("X-Request-Id").Single().ShouldBe(requestId);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task Unhandled_exception_is_a_500_problem_with_the_request_id_and_no_internals()
    {
        var body = await InternalErrorAsync(App.AdminClient(), "/test/boom", "req-boom-1");
        body.ShouldNotContain("secret-internal-detail");
        body.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task A_response_that_cannot_be_serialised_is_a_clean_500_problem_never_half_a_document()
    {
        var body = await InternalErrorAsync(App.CreateClient(), "/test/unserializable", "req-half-1");
        body.ShouldNotContain("written before the failure");
        body.ShouldNotContain("secret-internal-detail");
    }
}

public sealed class ErrorAnswerTestsOnSqlite(SqliteApp<DefaultSetup> app) : ErrorAnswerTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ErrorAnswerTestsOnPostgres(PostgresApp<DefaultSetup> app) : ErrorAnswerTests(app), IClassFixture<PostgresApp<DefaultSetup>>;

/// <summary>Throws, to show what a caller sees of an unhandled exception. Exists only in the test host.</summary>
public sealed class BoomEndpoint : EndpointWithoutRequest
{
    public override void Configure()
    {
        Get("/test/boom");
        AllowAnonymous();
    }

    public override Task HandleAsync(CancellationToken ct) =>
        throw new InvalidOperationException("secret-internal-detail");
}

/// <summary>Answers an object whose serialization fails halfway. Exists only in the test host.</summary>
public sealed class UnserializableEndpoint : EndpointWithoutRequest<UnserializableEndpoint.Half>
{
    public sealed class Half
    {
        public string First { get; init; } = "written before the failure";

        public string Second => throw new InvalidOperationException("secret-internal-detail");
    }

    public override void Configure()
    {
        Get("/test/unserializable");
        AllowAnonymous();
    }

    public override Task HandleAsync(CancellationToken ct) => Send.OkAsync(new Half(), ct);
}
