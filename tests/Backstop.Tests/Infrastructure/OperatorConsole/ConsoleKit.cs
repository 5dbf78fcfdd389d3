using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Backstop.Tests.Infrastructure.OperatorConsole;

/// <summary>A browser-like client of the console: its own cookies, no automatic redirects, a client address of its own.</summary>
public sealed partial class ConsoleBrowser(HttpClient client)
{
    public HttpClient Http { get; } = client;

    public static ConsoleBrowser Open(BackstopFactory app, string? clientIp = null, Uri? baseAddress = null)
    {
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true, BaseAddress = baseAddress ?? new Uri("http://localhost") });
        if (clientIp is not null) TestClientIpStartupFilter.SetAddress(client, clientIp);
        return new ConsoleBrowser(client);
    }

    public async Task<string> PageAsync(string url, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await Http.GetAsync(url);
        var html = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, html);
        return html;
    }

    /// <summary>The antiforgery token of the first form of <paramref name="html"/>.</summary>
    public static string TokenOf(string html) => Token().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value)
        : throw new ShouldAssertException("The page has no antiforgery token.");

    public async Task<HttpResponseMessage> PostAsync(string url, string? token, params (string Name, string Value)[] fields)
    {
        var form = fields.ToList();
        if (token is not null) form.Add(("__csrf", token));
        return await Http.PostAsync(url, new FormUrlEncodedContent(form.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))));
    }

    /// <summary>Signs in through the sign-in page's form; answers the sign-in POST.</summary>
    public async Task<HttpResponseMessage> TrySignInAsync(string key)
    {
        var page = await PageAsync("/console/sign-in");
        return await PostAsync("/console/sign-in", TokenOf(page), ("key", key));
    }

    public async Task SignInAsync(string key)
    {
        var response = await TrySignInAsync(key);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        response.Headers.Location!.OriginalString.ShouldBe("/console");
    }

    [GeneratedRegex("name=\"__csrf\" value=\"([^\"]+)\"")]
    private static partial Regex Token();
}

public static class OperatorKeys
{
    public sealed record Created(string Id, string Name, string Role, string Key);

    public static async Task<Created> CreateOperatorKeyAsync(this BackstopFactory app, string role, string? name = null)
    {
        var response = await app.AdminClient().PostJsonAsync("/v1/admin/operator-keys", new { name = name ?? "op-" + Guid.NewGuid().ToString("N")[..10], role });
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Created, body);
        var json = JsonDocument.Parse(body).RootElement;
        return new Created(json.GetProperty("id").GetString()!, json.GetProperty("name").GetString()!, json.GetProperty("role").GetString()!,
            json.GetProperty("key").GetString()!);
    }

    public static async Task<(ConsoleBrowser Browser, Created Key)> SignedInAsync(this BackstopFactory app, string role)
    {
        var key = await app.CreateOperatorKeyAsync(role);
        var browser = ConsoleBrowser.Open(app, TestClientIpStartupFilter.RandomAddress());
        await browser.SignInAsync(key.Key);
        return (browser, key);
    }
}
