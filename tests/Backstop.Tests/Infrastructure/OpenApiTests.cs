using System.Net.Http.Headers;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NJsonSchema.CodeGeneration.CSharp;
using NSwag.CodeGeneration.CSharp;
using NSwag.CodeGeneration.OperationNameGenerators;

namespace Backstop.Tests.Infrastructure;

/// <summary>
/// Reads <c>/openapi/v1.json</c> as a client generator would, checks its structure against rules that every
/// endpoint must follow (docs/api-description.md), calls every operation to check that what it answers is what it
/// declares, and generates, compiles and uses a C# client from it. Also checks that <c>/docs</c> loads nothing
/// from another host.
/// </summary>
public abstract partial class OpenApiTests(BackstopFactory app) : AppTest(app)
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options"];

    /// <summary>Success answers other than 200 JSON, as the handlers send them.</summary>
    private static readonly Dictionary<string, int> SuccessStatus = new()
    {
        ["post /v1/admin/organizations"] = 201,
        ["post /v1/admin/organizations/{orgId}/members"] = 201,
        ["post /v1/admin/organizations/{orgId}/api-keys"] = 201,
        ["post /v1/admin/organizations/{orgId}/api-keys/{keyId}/rotate"] = 201,
        ["post /v1/api-keys"] = 201,
        ["post /v1/api-keys/{keyId}/rotate"] = 201,
        ["post /v1/sms"] = 202,
        ["post /v1/otp"] = 202,
        ["delete /v1/admin/organizations/{orgId}"] = 204,
        ["delete /v1/admin/organizations/{orgId}/members/{memberId}"] = 204,
        ["delete /v1/admin/organizations/{orgId}/api-keys/{keyId}"] = 204,
        ["delete /v1/api-keys/{keyId}"] = 204,
        ["post /v1/meetings"] = 201,
        ["delete /v1/meetings/{id}"] = 204,
        ["delete /v1/meetings/{id}/bot"] = 202,
        ["post /v1/meetings/{id}/transcript"] = 202,
        ["post /v1/admin/plans"] = 201,
        ["delete /v1/billing/subscription"] = 202,
        ["post /v1/billing/subscription/resume"] = 202,
        ["post /v1/admin/coupons"] = 201,
        ["delete /v1/admin/coupons/{code}"] = 204,
        ["delete /v1/billing/plan-change"] = 204,
        ["post /v1/admin/operator-keys"] = 201, ["delete /v1/admin/operator-keys/{id}"] = 204,
        ["post /v1/admin/event-endpoints"] = 201, ["post /v1/event-endpoints"] = 201, ["delete /v1/admin/event-endpoints/{id}"] = 204, ["delete /v1/event-endpoints/{id}"] = 204, ["post /v1/admin/event-endpoints/{id}/replay"] = 202, ["post /v1/event-endpoints/{id}/replay"] = 202, ["post /v1/admin/event-endpoints/{id}/recover"] = 202, ["post /v1/event-endpoints/{id}/recover"] = 202,
        ["post /v1/admin/webhooks/replays"] = 202, // console-ops
    };

    /// <summary>Success answers that are a file, not JSON.</summary>
    private static readonly Dictionary<string, string> FileAnswers = new()
    {
        ["get /v1/meetings/{id}/audio"] = "audio/mpeg",
    };

    /// <summary>Errors an endpoint's own rules give, beyond what its kind implies (see <see cref="Expected_errors_of_every_operation_are_declared_as_problem_json"/>).</summary>
    private static readonly Dictionary<string, int[]> OwnErrors = new()
    {
        ["post /v1/admin/organizations"] = [409],
        ["post /v1/admin/organizations/{orgId}/members"] = [402, 409],
        ["post /v1/admin/organizations/{orgId}/api-keys/{keyId}/rotate"] = [409],
        ["post /v1/api-keys/{keyId}/rotate"] = [409],
        ["post /v1/admin/webhooks/{id}/replay"] = [409, 422],
        ["post /v1/admin/outbox/{id}/retry"] = [409],
        ["post /v1/sms"] = [503],
        ["post /v1/otp"] = [429, 503],
        ["post /webhooks/deepgram"] = [401],
        ["post /v1/meetings"] = [402, 403, 409, 422, 502, 503],
        ["post /v1/meetings/{id}/bot"] = [402, 403, 409, 502, 503],
        ["delete /v1/meetings/{id}/bot"] = [409],
        ["post /v1/meetings/{id}/transcript"] = [409, 503],
        ["post /webhooks/twilio/sms"] = [403],
        ["post /webhooks/twilio/status"] = [403],
        ["post /v1/usage/{metric}/consume"] = [402, 403, 409],
        ["post /v1/usage/{metric}/release"] = [409],
        ["put /v1/usage/{metric}"] = [409],
        ["put /v1/admin/metrics/{name}"] = [409],
        ["post /v1/admin/plans"] = [409],
        ["patch /v1/admin/plans/{code}"] = [409],
        ["delete /v1/admin/plans/{code}"] = [409],
        ["post /v1/billing/checkout"] = [404, 409, 502, 503],
        ["get /v1/billing/subscription"] = [404],
        ["delete /v1/billing/subscription"] = [404, 409],
        ["post /v1/billing/subscription/resume"] = [404, 409],
        ["post /v1/admin/coupons"] = [409],
        ["patch /v1/admin/coupons/{code}"] = [409],
        ["post /v1/billing/plan-change"] = [402, 404, 409, 502, 503],
        ["delete /v1/billing/plan-change"] = [404, 409, 502, 503],
        ["get /v1/billing/plan-change"] = [404],
        ["post /v1/admin/event-endpoints"] = [409, 422], ["post /v1/event-endpoints"] = [409, 422], ["patch /v1/admin/event-endpoints/{id}"] = [422], ["patch /v1/event-endpoints/{id}"] = [422], ["post /v1/admin/event-endpoints/{id}/rotate-secret"] = [409], ["post /v1/event-endpoints/{id}/rotate-secret"] = [409], ["post /v1/admin/event-endpoints/{id}/replay"] = [409, 422], ["post /v1/event-endpoints/{id}/replay"] = [409, 422], ["post /v1/admin/event-endpoints/{id}/recover"] = [409, 422], ["post /v1/event-endpoints/{id}/recover"] = [409, 422], ["delete /v1/admin/event-endpoints/{id}/recoveries/{recoveryId}"] = [409], ["delete /v1/event-endpoints/{id}/recoveries/{recoveryId}"] = [409],
        ["post /v1/admin/webhooks/replays/{id}/cancel"] = [409], ["post /v1/admin/organizations/{id}/grace"] = [409], ["post /v1/admin/billing/discrepancies/{id}/resolve"] = [409], // console-ops
    };

    private sealed record Operation(string Method, string Path, JsonElement Json)
    {
        public string Key => $"{Method} {Path}";

        public IEnumerable<JsonElement> Parameters => Json.TryGetProperty("parameters", out var p) ? p.EnumerateArray() : [];

        public IEnumerable<(int Status, JsonElement Response)> Responses =>
            Json.GetProperty("responses").EnumerateObject().Select(r => (int.Parse(r.Name, System.Globalization.CultureInfo.InvariantCulture), r.Value));

        public IReadOnlyList<int> Statuses => Responses.Select(r => r.Status).ToList();

        public bool HasBody => Json.TryGetProperty("requestBody", out _);

        /// <summary>An operation needing no credentials says so with one empty requirement (<c>[{}]</c>).</summary>
        public bool Secured => Json.GetProperty("security").EnumerateArray().Any(r => r.EnumerateObject().Any());

        public IReadOnlyList<string> PathParameters => PathParameterPattern().Matches(Path).Select(m => m.Groups[1].Value).ToList();

        public (int Status, JsonElement Response) Success => Responses.Single(r => r.Status is >= 200 and < 300);

        public IEnumerable<string> ContentTypes(int status) =>
            Responses.Single(r => r.Status == status).Response.TryGetProperty("content", out var c) ? c.EnumerateObject().Select(p => p.Name) : [];
    }

    private async Task<string> DocumentTextAsync()
    {
        var response = await App.CreateClient().GetAsync("/openapi/v1.json");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/json");
        return await response.Content.ReadAsStringAsync();
    }

    private async Task<(JsonElement Document, List<Operation> Operations)> DocumentAsync()
    {
        var document = JsonDocument.Parse(await DocumentTextAsync()).RootElement.Clone();
        var operations = document.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject()
                .Where(o => Methods.Contains(o.Name))
                .Select(o => new Operation(o.Name, path.Name, o.Value)))
            .ToList();
        operations.Count.ShouldBeGreaterThan(30);
        return (document, operations);
    }

    [Fact]
    public async Task Every_path_parameter_is_declared_as_a_required_path_parameter()
    {
        var (_, operations) = await DocumentAsync();
        foreach (var op in operations)
        {
            var declared = op.Parameters.Where(p => p.GetProperty("in").GetString() == "path").ToList();
            declared.Select(p => p.GetProperty("name").GetString()).Order().ShouldBe(op.PathParameters.Order(), op.Key);
            declared.ShouldAllBe(p => p.GetProperty("required").GetBoolean(), op.Key);
        }
        operations.Single(o => o.Key == "delete /v1/admin/organizations/{orgId}/api-keys/{keyId}").PathParameters.ShouldBe(["orgId", "keyId"]);
    }

    [Fact]
    public async Task Query_parameters_are_parameters_and_GET_and_DELETE_have_no_request_body()
    {
        var (document, operations) = await DocumentAsync();
        foreach (var op in operations.Where(o => o.Method is "get" or "delete" or "head"))
            op.HasBody.ShouldBeFalse(op.Key);
        foreach (var op in operations.Where(o => o.HasBody))
            op.Json.GetProperty("requestBody").GetProperty("content").EnumerateObject().Select(c => c.Name).ShouldBe(["application/json"], op.Key);

        string[] Query(string key) => operations.Single(o => o.Key == key).Parameters
            .Where(p => p.GetProperty("in").GetString() == "query").Select(p => p.GetProperty("name").GetString()!).ToArray();

        // Every list answers a page (items + nextCursor) and so takes limit and cursor.
        var lists = operations.Where(o => o.Method == "get" && o.Success.Status == 200 && IsPage(o)).ToList();
        lists.Count.ShouldBeGreaterThanOrEqualTo(8);
        foreach (var list in lists) new[] { "limit", "cursor" }.ShouldBeSubsetOf(Query(list.Key), list.Key);

        new[] { "status", "channel" }.ShouldBeSubsetOf(Query("get /v1/admin/outbox"));
        new[] { "provider", "status", "type" }.ShouldBeSubsetOf(Query("get /v1/admin/webhooks"));
        Query("get /v1/admin/jobs").ShouldContain("jobId");
        Query("post /v1/admin/organizations/{orgId}/api-keys/{keyId}/rotate").ShouldBe(["expiresAt", "overlapMinutes"], ignoreOrder: true);
        Query("post /v1/api-keys/{keyId}/rotate").ShouldBe(["expiresAt", "overlapMinutes"], ignoreOrder: true);
        // The tenant route takes the caller's organization: no orgId to pass.
        Query("get /v1/api-keys").ShouldBe(["limit", "cursor"], ignoreOrder: true);
        foreach (var op in operations)
            op.Parameters.Where(p => p.GetProperty("in").GetString() == "query").ShouldAllBe(p => !Required(p), op.Key);

        bool IsPage(Operation o) =>
            o.Success.Response.TryGetProperty("content", out var content) &&
            content.TryGetProperty("application/json", out var json) &&
            Resolve(document, json.GetProperty("schema")) is var schema &&
            schema.TryGetProperty("properties", out var props) && props.TryGetProperty("nextCursor", out _);
    }

    [Fact]
    public async Task Every_operation_declares_its_real_success_status_and_content_type()
    {
        var (document, operations) = await DocumentAsync();
        foreach (var op in operations)
        {
            var (status, response) = op.Success;
            var expected = op.Path.StartsWith("/webhooks/", StringComparison.Ordinal) ? 200 : SuccessStatus.GetValueOrDefault(op.Key, 200);
            status.ShouldBe(expected, op.Key);
            if (status == 204)
            {
                response.TryGetProperty("content", out _).ShouldBeFalse(op.Key);
                continue;
            }
            var content = response.GetProperty("content").EnumerateObject().ToList();
            if (FileAnswers.TryGetValue(op.Key, out var fileType))
            {
                content.Select(c => c.Name).ShouldBe([fileType], op.Key);
                continue;
            }
            var twiml = op.Path.StartsWith("/webhooks/twilio/", StringComparison.Ordinal);
            content.Select(c => c.Name).ShouldBe([twiml ? "text/xml" : "application/json"], op.Key);
            content[0].Value.TryGetProperty("schema", out var schema).ShouldBeTrue(op.Key);
            if (!twiml) Resolve(document, schema).TryGetProperty("properties", out _).ShouldBeTrue(op.Key);
        }
    }

    [Fact]
    public async Task Expected_errors_of_every_operation_are_declared_as_problem_json()
    {
        var (document, operations) = await DocumentAsync();
        var problem = document.GetProperty("components").GetProperty("schemas").GetProperty("Problem").GetProperty("properties");
        foreach (var field in new[] { "type", "title", "status", "detail", "code", "instance", "requestId", "errors" })
            problem.TryGetProperty(field, out _).ShouldBeTrue(field);

        foreach (var op in operations)
        {
            foreach (var (status, response) in op.Responses.Where(r => r.Status >= 400))
            {
                var content = response.GetProperty("content").EnumerateObject().ToList();
                content.Select(c => c.Name).ShouldBe(["application/problem+json"], $"{op.Key} {status}");
                content[0].Value.GetProperty("schema").GetProperty("$ref").GetString().ShouldBe("#/components/schemas/Problem", $"{op.Key} {status}");
            }

            var expected = new HashSet<int>(OwnErrors.GetValueOrDefault(op.Key, []));
            if (op.Path.StartsWith("/webhooks/", StringComparison.Ordinal)) expected.UnionWith([400, 413, 503]);
            if (op.Secured) expected.UnionWith([401, 403, 429]);
            if (op.HasBody) expected.UnionWith([400, 413]);
            if (op.Parameters.Any(p => p.GetProperty("in").GetString() == "query")) expected.Add(400);
            if (op.PathParameters.Count > 0) expected.Add(404);
            expected.Order().ShouldBeSubsetOf(op.Statuses, op.Key);
        }
    }

    [Fact]
    public async Task Security_is_required_exactly_where_an_API_key_is()
    {
        var (document, operations) = await DocumentAsync();
        document.TryGetProperty("security", out _).ShouldBeFalse("no document-wide requirement: webhooks and health are anonymous");
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        scheme.GetProperty("type").GetString().ShouldBe("http");
        scheme.GetProperty("scheme").GetString().ShouldBe("bearer");

        foreach (var op in operations)
        {
            var anonymous = op.Path.StartsWith("/webhooks/", StringComparison.Ordinal) || op.Path.StartsWith("/health/", StringComparison.Ordinal);
            op.Secured.ShouldBe(!anonymous, op.Key);
            var requirement = op.Json.GetProperty("security").EnumerateArray().Single();
            if (op.Secured) requirement.EnumerateObject().Single().Name.ShouldBe("bearer", op.Key);
            else requirement.EnumerateObject().ShouldBeEmpty(op.Key);
        }
        operations.Count(o => o.Path.StartsWith("/webhooks/", StringComparison.Ordinal)).ShouldBeGreaterThanOrEqualTo(7);

        // What the document says is what the server does: a secured operation called without a key is refused.
        foreach (var op in operations.Where(o => o.Secured))
        {
            using var request = new HttpRequestMessage(new HttpMethod(op.Method.ToUpperInvariant()), FillPath(op));
            var response = await App.CreateClient().SendAsync(request);
            ((int)response.StatusCode).ShouldBe(401, op.Key);
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", op.Key);
        }
    }

    [Fact]
    public async Task Every_operation_has_a_summary_a_tag_and_a_unique_operation_id_and_the_description_names_only_what_exists()
    {
        var (document, operations) = await DocumentAsync();
        foreach (var op in operations)
        {
            op.Json.GetProperty("summary").GetString().ShouldNotBeNullOrWhiteSpace(op.Key);
            op.Json.GetProperty("tags").GetArrayLength().ShouldBe(1, op.Key);
            op.Json.GetProperty("operationId").GetString()!.ShouldMatch("^[A-Z][A-Za-z0-9]+$", op.Key);
        }
        operations.Select(o => o.Json.GetProperty("operationId").GetString()).ShouldBeUnique();
        // The reference lists operations by summary: each must tell its operation apart.
        operations.Select(o => o.Json.GetProperty("summary").GetString()).ShouldBeUnique();
        operations.Single(o => o.Key == "post /v1/admin/organizations/{orgId}/api-keys").Json.GetProperty("summary").GetString()
            .ShouldBe("Create an API key for an organization (the key is shown only in this response).");

        var info = document.GetProperty("info");
        info.GetProperty("title").GetString().ShouldBe("Backstop API");
        var description = info.GetProperty("description").GetString()!.ToLowerInvariant();
        // A feature the description names has operations; one it does not have yet is not named.
        foreach (var (word, path) in new[] { ("bots", "/v1/bots"), ("meetings", "/v1/meetings"), ("billing", "/v1/billing"), ("quota", "/v1/quota"), ("subscriptions", "/v1/subscriptions") })
            if (description.Contains(word, StringComparison.Ordinal))
                operations.ShouldContain(o => o.Path.StartsWith(path, StringComparison.Ordinal), word);
        // One relative server, "/": paths resolve against the document's own address (no host the server guessed).
        document.GetProperty("servers").EnumerateArray().Select(e => e.GetProperty("url").GetString()).ShouldBe(["/"]);
    }

    /// <summary>
    /// The server writes every property of an answer, null or not, so every property of every schema an answer
    /// reaches is required; a nullable one says <c>nullable</c> (beside a <c>type</c>, as OpenAPI 3.0 wants), a
    /// non-nullable one does not. The one property the serializer leaves out when null, the problem's
    /// <c>errors</c>, is not required.
    /// </summary>
    [Fact]
    public async Task Every_property_of_an_answer_is_required_and_a_nullable_one_says_so()
    {
        var (document, operations) = await DocumentAsync();
        var schemas = document.GetProperty("components").GetProperty("schemas");
        var reached = new HashSet<string>();
        var todo = new Stack<JsonElement>(operations.SelectMany(o => o.Responses)
            .SelectMany(r => r.Response.TryGetProperty("content", out var c) ? c.EnumerateObject().Where(m => m.Name.Contains("json", StringComparison.Ordinal)) : [])
            .Select(m => m.Value.GetProperty("schema")));
        var objects = 0;
        while (todo.TryPop(out var schema))
        {
            if (schema.TryGetProperty("$ref", out var reference))
            {
                var name = reference.GetString()!.Split('/')[^1];
                if (reached.Add(name)) todo.Push(schemas.GetProperty(name));
                continue;
            }
            if (schema.TryGetProperty("nullable", out var n) && n.GetBoolean())
                schema.TryGetProperty("type", out _).ShouldBeTrue(schema.GetRawText());
            if (schema.TryGetProperty("properties", out var properties))
            {
                objects++;
                var required = schema.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(e => e.GetString()).ToHashSet() : [];
                foreach (var property in properties.EnumerateObject())
                {
                    var optional = property.Name == "errors" && properties.TryGetProperty("requestId", out _);
                    required.Contains(property.Name).ShouldBe(!optional, $"{property.Name} of {schema.GetRawText()[..Math.Min(200, schema.GetRawText().Length)]}");
                    todo.Push(property.Value);
                }
            }
            foreach (var nested in new[] { "items", "additionalProperties", "oneOf", "allOf", "anyOf" })
                if (schema.TryGetProperty(nested, out var inner))
                    foreach (var part in inner.ValueKind == JsonValueKind.Array ? inner.EnumerateArray().ToList() : inner.ValueKind == JsonValueKind.Object ? [inner] : [])
                        todo.Push(part);
        }
        objects.ShouldBeGreaterThan(80);

        bool Nullable(string schema, string property) =>
            schemas.GetProperty(schema).GetProperty("properties").GetProperty(property).TryGetProperty("nullable", out var v) && v.GetBoolean();
        Nullable("OrganizationResponse", "id").ShouldBeFalse();
        Nullable("OrganizationResponse", "deletedAt").ShouldBeTrue();
        Nullable("OrganizationResponse", "deletion").ShouldBeTrue();
        Nullable("MeetingResponse", "botId").ShouldBeTrue();
        Nullable("Problem", "code").ShouldBeFalse();
        schemas.GetProperty("Problem").GetProperty("required").EnumerateArray().Select(e => e.GetString())
            .ShouldBe(["type", "title", "status", "detail", "code", "instance", "requestId"], ignoreOrder: true);
    }

    /// <summary>
    /// Calls every operation as a client that got nothing right but the shape would: unknown ids, an empty JSON
    /// body, the right kind of key. Whatever it answers must be declared, with the declared content type.
    /// </summary>
    [Fact]
    public async Task Every_answer_to_a_real_call_is_declared_with_its_content_type()
    {
        var (_, operations) = await DocumentAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var statuses = new List<string>();
        foreach (var op in operations)
        {
            using var request = new HttpRequestMessage(new HttpMethod(op.Method.ToUpperInvariant()), FillPath(op));
            if (op.HasBody) request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            var client = op.Path.StartsWith("/v1/admin/", StringComparison.Ordinal) ? App.AdminClient()
                : op.Secured ? App.Client(tenant)
                : App.CreateClient();
            var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            op.Statuses.ShouldContain(status, $"{op.Key} answered {status}: {body}");
            if (op.ContentTypes(status).ToList() is { Count: > 0 } types)
                types.ShouldContain(response.Content.Headers.ContentType?.MediaType ?? "", $"{op.Key} {status}");
            statuses.Add($"{op.Key} {status}");
        }
        statuses.ShouldContain("get /v1/admin/organizations/{orgId} 404");
        statuses.ShouldContain("get /v1/admin/organizations 200");
        statuses.ShouldContain("post /v1/admin/organizations 400");
    }

    [Fact]
    public async Task A_client_generated_from_the_document_compiles_and_calls_the_API()
    {
        var document = await NSwag.OpenApiDocument.FromJsonAsync(await DocumentTextAsync());
        var settings = new CSharpClientGeneratorSettings
        {
            ClassName = "BackstopClient",
            UseBaseUrl = false,
            GenerateClientInterfaces = false,
            OperationNameGenerator = new SingleClientFromOperationIdOperationNameGenerator(),
            CSharpGeneratorSettings = { Namespace = "Generated", JsonLibrary = CSharpJsonLibrary.SystemTextJson },
        };
        var code = new CSharpClientGenerator(document, settings).GenerateFile();

        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("GeneratedBackstopClient", [CSharpSyntaxTree.ParseText(code)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ShouldBeEmpty();

        var context = new AssemblyLoadContext("generated-client", isCollectible: true);
        try
        {
            image.Position = 0;
            var assembly = context.LoadFromStream(image);
            var clientType = assembly.GetType("Generated.BackstopClient")!;
            var client = Activator.CreateInstance(clientType, App.AdminClient())!;

            var create = Activator.CreateInstance(assembly.GetType("Generated.CreateOrganizationRequest")!)!;
            var name = "org-" + Guid.NewGuid().ToString("N")[..12];
            create.GetType().GetProperty("Name")!.SetValue(create, name);
            var created = await InvokeAsync(clientType, client, "CreateOrganizationAsync", create);
            var id = (string)created.GetType().GetProperty("Id")!.GetValue(created)!;

            var fetched = await InvokeAsync(clientType, client, "GetOrganizationAsync", id);
            fetched.GetType().GetProperty("Name")!.GetValue(fetched).ShouldBe(name);

            // A declared problem answer arrives as the generated ApiException<Problem>, with its status and code.
            var missing = await Should.ThrowAsync<Exception>(() => InvokeAsync(clientType, client, "GetOrganizationAsync", "no-such-org"));
            missing.GetType().Name.ShouldBe("ApiException`1");
            missing.GetType().GetProperty("StatusCode")!.GetValue(missing).ShouldBe(404);
            var problem = missing.GetType().GetProperty("Result")!.GetValue(missing)!;
            problem.GetType().GetProperty("Code")!.GetValue(problem).ShouldBe("not_found");
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public async Task Docs_page_loads_its_scripts_from_this_server_and_asks_for_nothing_from_another_host()
    {
        var client = App.CreateClient();
        var page = await client.GetAsync("/docs/v1");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await page.Content.ReadAsStringAsync();

        AbsoluteUrl().Matches(html).Select(m => m.Value).ShouldBeEmpty("the page names no other host");
        var sources = SourceAttribute().Matches(html).Select(m => m.Groups[1].Value).ToList();
        sources.ShouldNotBeEmpty();
        foreach (var source in sources)
        {
            var script = await client.GetAsync(new Uri(new Uri("http://localhost/docs/v1"), source));
            script.StatusCode.ShouldBe(HttpStatusCode.OK, source);
            (await script.Content.ReadAsStringAsync()).Length.ShouldBeGreaterThan(100, source);
        }

        // The reference's own switches for everything that would call out: web fonts, telemetry, the agent, MCP,
        // the developer tools and the client button; and no proxy for "try it" requests.
        var config = JsonDocument.Parse(ConfigObject().Match(html).Groups[1].Value).RootElement;
        config.GetProperty("withDefaultFonts").GetBoolean().ShouldBeFalse();
        config.GetProperty("telemetry").GetBoolean().ShouldBeFalse();
        config.GetProperty("agent").GetProperty("disabled").GetBoolean().ShouldBeTrue();
        config.GetProperty("mcp").GetProperty("disabled").GetBoolean().ShouldBeTrue();
        config.GetProperty("showDeveloperTools").GetString().ShouldBe("never");
        config.GetProperty("hideClientButton").GetBoolean().ShouldBeTrue();
        config.TryGetProperty("proxyUrl", out _).ShouldBeFalse();
        config.TryGetProperty("cdn", out _).ShouldBeFalse();
        config.GetProperty("sources").EnumerateArray().Single().GetProperty("url").GetString().ShouldBe("openapi/v1.json");

        // The integration script the page imports names no host either (the vendor bundle carries links and
        // defaults behind the switches above; scripts/check-docs-offline.sh loads the page in a browser).
        var integration = await (await client.GetAsync("/docs/scalar.aspnetcore.js")).Content.ReadAsStringAsync();
        AbsoluteUrl().Matches(integration).Select(m => m.Value).ShouldBeEmpty();
    }

    private static async Task<object> InvokeAsync(Type type, object client, string method, params object[] args)
    {
        var candidates = type.GetMethods().Where(m => m.Name == method && m.GetParameters().Length >= args.Length).ToList();
        var target = candidates.OrderBy(m => m.GetParameters().Length).First();
        var parameters = target.GetParameters();
        var values = parameters.Select((p, i) => i < args.Length ? args[i] : p.ParameterType == typeof(CancellationToken) ? CancellationToken.None : null).ToArray();
        try
        {
            var task = (Task)target.Invoke(client, values)!;
            await task;
            return task.GetType().GetProperty("Result")!.GetValue(task)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static bool Required(JsonElement parameter) => parameter.TryGetProperty("required", out var r) && r.GetBoolean();

    private static string FillPath(Operation op) =>
        PathParameterPattern().Replace(op.Path, m => "unknown-" + m.Groups[1].Value.ToLowerInvariant() + "-" + Guid.NewGuid().ToString("N")[..8]);

    private static JsonElement Resolve(JsonElement document, JsonElement schema)
    {
        while (schema.TryGetProperty("$ref", out var reference))
            schema = reference.GetString()!.TrimStart('#', '/').Split('/').Aggregate(document, (node, segment) => node.GetProperty(segment));
        return schema;
    }

    [GeneratedRegex(@"\{([^}]+)\}")]
    private static partial Regex PathParameterPattern();

    [GeneratedRegex(@"(?:https?:)?//[a-zA-Z0-9][a-zA-Z0-9.-]*\.[a-zA-Z]{2,}")]
    private static partial Regex AbsoluteUrl();

    [GeneratedRegex(@"(?:src|href)=""([^""]+)""")]
    private static partial Regex SourceAttribute();

    [GeneratedRegex(@"initialize\(\s*'[^']*',\s*\w+,\s*(\{.*\}),\s*'")]
    private static partial Regex ConfigObject();
}

public sealed class OpenApiTestsOnSqlite(SqliteApp<DefaultSetup> app) : OpenApiTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class OpenApiTestsOnPostgres(PostgresApp<DefaultSetup> app) : OpenApiTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
