namespace Backstop.Tests.Infrastructure;

/// <summary>
/// Holds <c>/openapi/v1.json</c> to what other people's tools make of it: a TypeScript client generated with
/// <c>openapi-typescript</c> 7 types every answer as the server sends it (a strict program reads <c>org.id</c> as a
/// <c>string</c> without <c>!</c>, a nullable field as <c>T | null</c>), and Redocly's recommended rules find no
/// error. The npm packages are installed into <c>.tools/</c> (<see cref="NpmTool"/>). The document does not depend
/// on the database, so these run on SQLite only.
/// </summary>
public sealed class OpenApiToolingTests(SqliteApp<DefaultSetup> app) : AppTest(app), IClassFixture<SqliteApp<DefaultSetup>>
{
    /// <summary>
    /// Compiled under <c>strict</c>, never run: every line is a claim about the generated types. A field that the
    /// document leaves optional reads <c>T | undefined</c> and does not convert to <c>T</c>; a nullable field that the
    /// document called non-nullable would make the <c>@ts-expect-error</c> lines unused, which is an error too.
    /// </summary>
    private const string Program = """
        import createClient from "openapi-fetch";
        import type { components, paths } from "./schema";

        type Problem = components["schemas"]["Problem"];

        export async function tour(baseUrl: string, adminKey: string): Promise<string[]> {
          const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${adminKey}` } });

          // Create an organization: every field of the answer is there.
          const created = await admin.POST("/v1/admin/organizations", { body: { name: "Acme" } });
          if (created.error) return [created.error.code];
          const org = created.data;
          const id: string = org.id;
          const slug: string = org.slug;
          const createdAt: string = org.createdAt;
          const deletedAt: string | null = org.deletedAt;
          // @ts-expect-error a nullable field is not a plain string
          const notNull: string = org.deletedAt;
          const deletion: components["schemas"]["OrganizationDeletionProgress"] | null = org.deletion;

          // A key for it, then the tenant's own view.
          const key = await admin.POST("/v1/admin/organizations/{orgId}/api-keys", {
            params: { path: { orgId: id } },
            body: { name: "ci" },
          });
          if (key.error) return [key.error.code];
          const secret: string = key.data.key;
          const expiresAt: string | null = key.data.expiresAt;
          const scopes: string[] = key.data.scopes;

          const tenant = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${secret}` } });
          const me = await tenant.GET("/v1/me");
          if (me.error) return [me.error.code];
          const orgName: string = me.data.organization.name;
          const keyPrefix: string = me.data.key.prefix;

          // A list: items and the cursor (null on the last page).
          const meetings = await tenant.GET("/v1/meetings", { params: { query: { limit: 10 } } });
          if (meetings.error) return [meetings.error.code];
          const titles: string[] = meetings.data.items.map((m) => m.title);
          const botIds: (string | null)[] = meetings.data.items.map((m) => m.botId);
          const next: string | null = meetings.data.nextCursor;

          // A validation error: a problem with its stable code; its field errors may be absent.
          const invalid = await admin.POST("/v1/admin/organizations", { body: { name: "" } });
          if (!invalid.error) return ["no error"];
          const problem: Problem = invalid.error;
          const code: string = problem.code;
          const status: number = problem.status;
          const instance: string | null = problem.instance;
          const fields: Record<string, string[]> | null | undefined = problem.errors;
          // @ts-expect-error the field errors are left out of a problem that has none
          const always: Record<string, string[]> | null = problem.errors;

          return [id, slug, createdAt, deletedAt ?? "", String(notNull), String(deletion), String(expiresAt), ...scopes,
            orgName, keyPrefix, ...titles, ...botIds.map(String), String(next), code, String(status), String(instance),
            String(fields), String(always)];
        }
        """;

    [Fact]
    public async Task A_TypeScript_client_generated_with_openapi_typescript_types_every_answer_field_as_sent_under_strict()
    {
        var tool = NpmTool.OpenApiTypeScript;
        await tool.EnsureInstalledAsync();
        // Below the tool's directory, so "openapi-fetch" resolves to its node_modules.
        var work = Path.Combine(tool.Directory, "work-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(work, "openapi.json"), await DocumentTextAsync());
            var generated = await tool.RunToolAsync("openapi-typescript", ["openapi.json", "--output", "schema.ts"], work);
            generated.Exit.ShouldBe(0, generated.ToString());
            var schema = await File.ReadAllTextAsync(Path.Combine(work, "schema.ts"));
            // What the document says, as the generator read it.
            schema.ShouldContain("deletedAt: string | null;");

            await File.WriteAllTextAsync(Path.Combine(work, "tour.ts"), Program);
            await File.WriteAllTextAsync(Path.Combine(work, "tsconfig.json"), """
                {
                  "compilerOptions": {
                    "strict": true,
                    "noEmit": true,
                    "target": "ES2022",
                    "module": "ESNext",
                    "moduleResolution": "Bundler",
                    "lib": ["ES2022", "DOM"],
                    "skipLibCheck": true
                  },
                  "files": ["tour.ts", "schema.ts"]
                }
                """);
            var compiled = await tool.RunToolAsync("tsc", ["--project", "tsconfig.json"], work);
            compiled.Exit.ShouldBe(0, compiled.ToString());
            Program.ShouldNotContain("!.");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Redocly_recommended_rules_find_no_error_in_the_document()
    {
        var tool = NpmTool.RedoclyCli;
        await tool.EnsureInstalledAsync();
        var work = Directory.CreateTempSubdirectory("backstop-redocly-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(work, "openapi.json"), await DocumentTextAsync());
            var lint = await tool.RunToolAsync("redocly",
                ["lint", "--extends", "recommended", "--format", "json", "openapi.json"], work);
            // The report is the JSON object on stdout (notices go to stderr).
            var json = lint.StandardOutput;
            json.ShouldContain("\"totals\"", customMessage: lint.ToString());
            var report = JsonDocument.Parse(json[json.IndexOf('{', StringComparison.Ordinal)..(json.LastIndexOf('}') + 1)]).RootElement;
            var errors = report.GetProperty("problems").EnumerateArray()
                .Where(p => p.GetProperty("severity").GetString() == "error")
                .Select(p => $"{p.GetProperty("ruleId").GetString()} at {p.GetProperty("location")[0].GetProperty("pointer").GetString()}: {p.GetProperty("message").GetString()}")
                .ToList();
            errors.ShouldBeEmpty();
            lint.Exit.ShouldBe(0, lint.ToString());
            report.GetProperty("totals").GetProperty("errors").GetInt32().ShouldBe(0);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private async Task<string> DocumentTextAsync()
    {
        var response = await App.CreateClient().GetAsync("/openapi/v1.json");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return await response.Content.ReadAsStringAsync();
    }
}
