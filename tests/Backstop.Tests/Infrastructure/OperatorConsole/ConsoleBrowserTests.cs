using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Backstop.Tests.Infrastructure.OperatorConsole;

/// <summary>
/// The console in a real browser: Debian's <c>chromium</c> driven by npm <c>playwright-core</c> (both installed by
/// <c>.ci/run</c>: the npm packages into <c>.tools/browser</c>, chromium with apt-get) through
/// <c>tests/browser/console.spec.mjs</c>, against the service as a real process on a real port (a fresh directory,
/// SQLite, no job server), seeded through the REST API and a signed Stripe webhook. Screenshots of every page land in
/// <c>artifacts/console/</c>. Without chromium or the npm packages the test is skipped with a message, except under
/// <c>CI=true</c>, where it fails.
/// </summary>
public sealed partial class ConsoleBrowserTests
{
    private const string StripeSecret = "whsec_browser_0123456789abcdef";
    private const string AdminKey = BackstopFactory.AdminKey;

    /// <summary>
    /// The bulk-replay page: a GET page taking the inbox filter in its query, with a dry-run button.
    /// </summary>
    private const string BulkReplayRoute = "/console/inbox/replays";

    [Fact]
    public async Task The_console_works_in_a_real_browser_with_no_foreign_request_and_no_serious_accessibility_violation()
    {
        var root = RepositoryRoot();
        var (chromium, tools) = Tools(root);
        var artifacts = Path.Combine(root, "artifacts", "console");
        var work = Directory.CreateTempSubdirectory("backstop-browser-");
        using var service = await StartAsync(work.FullName);
        try
        {
            var http = service.Http;
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            var suffix = Guid.NewGuid().ToString("N")[..8];

            // An organization with two keys and 7 of 10 of a metric used.
            var organization = await JsonOf(await http.PostAsJsonAsync("/v1/admin/organizations", new { name = "Browser Tour " + suffix }), HttpStatusCode.Created);
            var organizationId = organization.GetProperty("id").GetString()!;
            var apiKey = await JsonOf(await http.PostAsJsonAsync($"/v1/admin/organizations/{organizationId}/api-keys", new { name = "browser-key" }), HttpStatusCode.Created);
            var secondKey = await JsonOf(await http.PostAsJsonAsync($"/v1/admin/organizations/{organizationId}/api-keys", new { name = "browser-key-2" }), HttpStatusCode.Created);
            var metric = "browser_calls";
            (await http.PutAsJsonAsync($"/v1/admin/metrics/{metric}", new { kind = "counter", defaultLimit = 10 })).IsSuccessStatusCode.ShouldBeTrue();
            using (var tenant = new HttpClient { BaseAddress = service.Address })
            {
                tenant.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey.GetProperty("key").GetString());
                (await tenant.PostAsJsonAsync($"/v1/usage/{metric}/consume", new { amount = 7 })).IsSuccessStatusCode.ShouldBeTrue();
            }

            // A Stripe subscription whose price no plan has: its handler fails, and with one attempt allowed it is dead at
            // once. The operator then creates the plan, and the replay in the browser must process it. Two more of
            // another price stay dead for the bulk replay's dry-run count. They are another organization's (a subscription
            // applied starts a new usage period, which would empty the first one's bar).
            var customer = await JsonOf(await http.PostAsJsonAsync("/v1/admin/organizations", new { name = "Stripe Customer " + suffix }), HttpStatusCode.Created);
            var customerId = customer.GetProperty("id").GetString()!;
            var price = "price_browser_" + suffix;
            var deadId = await SendDeadStripeSubscriptionAsync(http, "customer.subscription.created", price, customerId);
            const string bulkType = "customer.subscription.updated";
            for (var i = 0; i < 2; i++) await SendDeadStripeSubscriptionAsync(http, bulkType, "price_browser_unknown_" + suffix, customerId);
            (await http.PostAsJsonAsync("/v1/admin/plans", new { code = "browser-" + suffix, name = "Browser plan", stripePriceId = price })).StatusCode
                .ShouldBe(HttpStatusCode.Created);

            var adminOperator = await JsonOf(await http.PostAsJsonAsync("/v1/admin/operator-keys", new { name = "browser-admin", role = "admin" }), HttpStatusCode.Created);
            var readOnly = await JsonOf(await http.PostAsJsonAsync("/v1/admin/operator-keys", new { name = "browser-reader", role = "read_only" }), HttpStatusCode.Created);

            var input = new
            {
                baseUrl = service.Address.ToString().TrimEnd('/'),
                chromium,
                toolsDir = tools,
                artifactsDir = artifacts,
                adminOperatorKey = adminOperator.GetProperty("key").GetString(),
                readOnlyKey = readOnly.GetProperty("key").GetString(),
                organizationId,
                organizationName = organization.GetProperty("name").GetString(),
                organizationSlug = organization.GetProperty("slug").GetString(),
                metric,
                used = 7,
                limit = 10,
                apiKeyName = apiKey.GetProperty("name").GetString(),
                apiKeyPrefix = apiKey.GetProperty("prefix").GetString(),
                secondApiKeyId = secondKey.GetProperty("id").GetString(),
                deadEventId = deadId,
                bulkReplayRoute = BulkReplayRoute,
                bulkType,
                bulkCount = 2,
            };
            var stopwatch = Stopwatch.StartNew();
            var output = await RunNodeAsync(Path.Combine(root, "tests", "browser", "console.spec.mjs"), JsonSerializer.Serialize(input));
            stopwatch.Stop();
            var result = JsonDocument.Parse(output).RootElement;
            TestContext.Current.SendDiagnosticMessage($"console browser run: {stopwatch.Elapsed.TotalSeconds:F1} s; {output}");

            // Every problem at once (one run of the browser is long): scenarios, foreign requests, axe, screenshots.
            var problems = new List<string>();
            var scenarios = result.GetProperty("scenarios").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => s);
            foreach (var name in new[] { "sign_in", "organization_usage_bars", "replay_dead_stripe_event", "bulk_replay_dry_run", "revoke_key", "read_only_sees_no_action_and_a_forged_post_is_403" })
            {
                if (!scenarios.TryGetValue(name, out var s)) problems.Add($"scenario {name} did not run");
                else if (s.GetProperty("status").GetString() != "passed") problems.Add($"scenario {name}: {s.GetProperty("status")}: {s.GetProperty("detail")}");
            }

            foreach (var url in result.GetProperty("foreignRequests").EnumerateArray()) problems.Add($"a request to another host: {url}");
            var pages = result.GetProperty("pages").EnumerateArray().ToList();
            var present = pages.Where(p => !p.TryGetProperty("absent", out _)).ToList();
            foreach (var p in present)
            {
                if (p.GetProperty("status").GetInt32() != 200) problems.Add($"{p.GetProperty("url")} ({p.GetProperty("who")}) answered {p.GetProperty("status")}");
                foreach (var v in p.GetProperty("violations").EnumerateArray()) problems.Add($"axe on {p.GetProperty("url")} ({p.GetProperty("who")}): {v}");
            }
            // The pages this branch has were all checked and screenshotted (the read-only scenario visits them too).
            foreach (var name in new[] { "overview", "inbox", "inbox-event", "organizations", "organization", "audit" })
            {
                if (!present.Any(p => p.GetProperty("name").GetString() == name)) problems.Add($"page {name} was not checked");
                if (!File.Exists(Path.Combine(artifacts, name + ".png"))) problems.Add($"no screenshot of {name}");
            }
            if (!present.Any(p => p.GetProperty("name").GetString() == "sign-in")) problems.Add("the sign-in page was not checked");
            // axe really ran: on its canary page (an image without text, an input without a label) it found both.
            var canary = result.GetProperty("axeCanary").EnumerateArray().Select(v => v.GetString()).ToList();
            if (!canary.Contains("image-alt") || !canary.Contains("label")) problems.Add("axe did not report the canary's violations: " + string.Join(", ", canary));
            problems.ShouldBeEmpty(string.Join("\n", problems));

            // What the browser did, as the API sees it: the event processed (the subscription applied), the key revoked.
            var replayed = await JsonOf(await http.GetAsync($"/v1/admin/webhooks/{deadId}"), HttpStatusCode.OK);
            replayed.GetProperty("status").GetString().ShouldBe("processed");
            using (var revoked = new HttpClient { BaseAddress = service.Address })
            {
                revoked.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey.GetProperty("key").GetString());
                (await revoked.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
                revoked.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secondKey.GetProperty("key").GetString());
                (await revoked.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK); // the read-only forged revoke changed nothing
            }
        }
        finally
        {
            await service.KillAsync();
            try { work.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Posts a signed Stripe subscription event (as Stripe signs it) and answers its inbox id once it is dead.</summary>
    private static async Task<string> SendDeadStripeSubscriptionAsync(HttpClient http, string type, string price, string organizationId)
    {
        var eventId = "evt_browser_" + Guid.NewGuid().ToString("N")[..20];
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var subscription = new
        {
            id = "sub_browser_" + Guid.NewGuid().ToString("N")[..16],
            @object = "subscription",
            customer = "cus_browser_" + Guid.NewGuid().ToString("N")[..16],
            status = "active",
            cancel_at_period_end = false,
            metadata = new { organization_id = organizationId },
            items = new { data = new[] { new { price = new { id = price }, current_period_start = now, current_period_end = now + 30 * 86400 } } },
        };
        var body = JsonSerializer.Serialize(new { id = eventId, @object = "event", type, api_version = "2024-06-20", created = now, livemode = false, data = new { @object = subscription } });
        var t = now.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var mac = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(StripeSecret), Encoding.UTF8.GetBytes(t + "." + body)));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", $"t={t},v1={mac}");
        var response = await http.SendAsync(request);
        response.IsSuccessStatusCode.ShouldBeTrue(await response.Content.ReadAsStringAsync());
        var list = await JsonOf(await http.GetAsync($"/v1/admin/webhooks?provider=stripe&type={type}&limit=100"), HttpStatusCode.OK);
        var item = list.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("eventId").GetString() == eventId);
        item.GetProperty("status").GetString().ShouldBe("dead", item.ToString());
        return item.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "App.csproj"))) return dir.FullName;
        throw new InvalidOperationException("App.csproj not found above the test binary");
    }

    /// <summary>chromium and the npm packages, or a skip (a failure under CI=true) naming what is missing.</summary>
    private static (string Chromium, string Tools) Tools(string root)
    {
        var chromium = Environment.GetEnvironmentVariable("BACKSTOP_CHROMIUM") is { Length: > 0 } given ? given
            : new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        var tools = Path.Combine(root, ".tools", "browser");
        var missing = new List<string>();
        if (chromium is null || !File.Exists(chromium)) missing.Add("chromium (apt-get install chromium)");
        foreach (var package in new[] { "playwright-core", "axe-core" })
            if (!File.Exists(Path.Combine(tools, "node_modules", package, "package.json")))
                missing.Add($"npm {package} in .tools/browser (npm install --prefix .tools/browser playwright-core@1.65.1 axe-core@4.14.1, as .ci/run does)");
        if (FindNode() is null) missing.Add("node");
        if (missing.Count > 0)
        {
            var message = "The console browser tests need " + string.Join(", ", missing);
            if (PostgresServer.InCi) throw new InvalidOperationException(message + " (CI=true: the browser test FAILS)");
            Assert.Skip(message + " (the browser test is SKIPPED; .ci/run installs them)");
        }
        return (chromium!, tools);
    }

    private static string? FindNode() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "node")).FirstOrDefault(File.Exists);

    private static async Task<string> RunNodeAsync(string script, string input)
    {
        var start = new ProcessStartInfo(FindNode()!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.Environment["CONSOLE_BROWSER_INPUT"] = input;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // About a minute on a loaded 2-core machine; the bound is only against a hung browser.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("The browser script did not finish within 5 minutes: " + await errors);
        }
        var text = await output;
        process.ExitCode.ShouldBe(0, text + await errors);
        return text.Trim().Split('\n')[^1];
    }

    /// <summary>The built service on a fresh directory (SQLite at ./data), listening on a port the kernel picks.</summary>
    private static async Task<RunningService> StartAsync(string directory)
    {
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Admin__ApiKey"] = AdminKey;
        start.Environment["Jobs__RunServer"] = "false";
        start.Environment["Stripe__WebhookSecret"] = StripeSecret;
        // One attempt: a failing handler makes the event dead at once (no waiting out the retries).
        start.Environment["Webhooks__MaxAttempts"] = "1";
        start.Environment["Serilog__MinimumLevel__Default"] = "Warning";
        start.Environment["Serilog__MinimumLevel__Override__Microsoft.Hosting.Lifetime"] = "Information";
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the service");
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line) return;
            lock (log) if (log.Length < 20_000) log.AppendLine(line);
            if (line.Contains("Now listening on", StringComparison.Ordinal) && ListeningAddress().Match(line) is { Success: true } match)
                listening.TrySetResult(new Uri(match.Value));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (log) if (log.Length < 20_000) log.AppendLine(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var first = await Task.WhenAny(listening.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(3)));
        if (first != listening.Task)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            string text;
            lock (log) text = log.ToString();
            throw new InvalidOperationException("The service did not start listening: " + text);
        }
        var service = new RunningService(process, await listening.Task);
        await ServiceProcess.WaitReadyAsync(service.Http);
        return service;
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:[0-9]+")]
    private static partial Regex ListeningAddress();
}
