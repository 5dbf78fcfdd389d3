using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Backstop.Tests.Support;

/// <summary>
/// TestServer has no network connection, so <c>Connection.RemoteIpAddress</c> is null. This startup filter (test
/// host only) sets it from the <see cref="Header"/> request header before anything else runs, and every test
/// client gets a random address of its own (see <see cref="BackstopFactory"/>), so failed attempts of one test never
/// lock out another. Lockout tests pick addresses explicitly.
/// </summary>
public sealed class TestClientIpStartupFilter : IStartupFilter
{
    public const string Header = "X-Test-Client-Ip";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (IPAddress.TryParse(context.Request.Headers[Header].ToString(), out var address))
                context.Connection.RemoteIpAddress = address;
            return nextMiddleware(context);
        });
        next(app);
    };

    private static int nextAddress = Random.Shared.Next(0, 1 << 16);

    /// <summary>
    /// An address in 198.18.0.0/15 (reserved for benchmarking, never a real client) that no other client of this test
    /// run has: a test that locks an address out must not lock out another test's client by chance.
    /// </summary>
    public static string RandomAddress()
    {
        var n = Interlocked.Increment(ref nextAddress) % ((1 << 17) - 2) + 1;
        return $"198.{18 + (n >> 16)}.{(n >> 8) & 0xff}.{n & 0xff}";
    }

    public static void SetAddress(HttpClient client, string address)
    {
        client.DefaultRequestHeaders.Remove(Header);
        client.DefaultRequestHeaders.Add(Header, address);
    }
}
