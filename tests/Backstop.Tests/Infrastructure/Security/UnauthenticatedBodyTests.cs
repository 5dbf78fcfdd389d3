using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Security;

/// <summary>
/// Counts, on the server, the request body bytes the application read, per request (keyed by <c>X-Body-Probe</c>):
/// the first middleware swaps the body for a counting stream, so every later reader (buffering, binding) goes through it.
/// </summary>
public sealed class BodyProbeSetup : AppSetup
{
    public System.Collections.Concurrent.ConcurrentDictionary<string, long> BytesRead { get; } = new();

    public override void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new Filter(this));

    private sealed class Filter(BodyProbeSetup setup) : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                if (context.Request.Headers["X-Body-Probe"].ToString() is { Length: > 0 } probe)
                    context.Request.Body = new Counting(context.Request.Body, n => setup.BytesRead.AddOrUpdate(probe, n, (_, total) => total + n));
                await nextMiddleware(context);
            });
            next(app);
        };
    }

    private sealed class Counting(Stream inner, Action<long> count) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int length) => Counted(inner.Read(buffer, offset, length));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Counted(await inner.ReadAsync(buffer, ct));
        public override async Task<int> ReadAsync(byte[] buffer, int offset, int length, CancellationToken ct) => Counted(await inner.ReadAsync(buffer.AsMemory(offset, length), ct));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int length) => throw new NotSupportedException();

        private int Counted(int n)
        {
            count(n);
            return n;
        }
    }
}

public abstract class UnauthenticatedBodyTests(BackstopFactory app) : AppTest(app)
{
    private const int MiB = 1024 * 1024;

    private BodyProbeSetup Probe => App.SetupAs<BodyProbeSetup>();

    /// <summary>A 1 MiB JSON body (an object padded with spaces) and the probe id its reads are counted under.</summary>
    private static (HttpContent Content, string Probe) Body()
    {
        var bytes = new byte[MiB];
        bytes.AsSpan().Fill((byte)' ');
        bytes[0] = (byte)'{';
        bytes[^1] = (byte)'}';
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var probe = Guid.NewGuid().ToString("N");
        content.Headers.TryAddWithoutValidation("X-Body-Probe", probe);
        return (content, probe);
    }

    private long ReadOf(string probe) => Probe.BytesRead.GetValueOrDefault(probe);

    [Fact]
    public async Task An_unauthenticated_1_MiB_post_is_refused_without_its_body_being_read()
    {
        var (content, probe) = Body();
        await (await App.CreateClient().PostAsync("/v1/sms", content)).ShouldBeProblemAsync(401, "unauthorized");
        ReadOf(probe).ShouldBe(0);

        var (withBadKey, badProbe) = Body();
        await (await App.ClientWithKey("bsk_live_not_a_real_key").PostAsync("/v1/sms", withBadKey)).ShouldBeProblemAsync(401, "invalid_api_key");
        ReadOf(badProbe).ShouldBe(0);
    }

    [Fact]
    public async Task The_same_body_with_a_valid_key_is_read_whole_so_the_measure_is_real()
    {
        var client = App.Client(await App.CreateTenantAsync());
        var (content, probe) = Body();
        ((int)(await client.PostAsync("/v1/sms", content)).StatusCode).ShouldBeOneOf(400, 503);
        ReadOf(probe).ShouldBe(MiB);
    }
}

public sealed class UnauthenticatedBodyTestsOnSqlite(SqliteApp<BodyProbeSetup> app) : UnauthenticatedBodyTests(app), IClassFixture<SqliteApp<BodyProbeSetup>>;

public sealed class UnauthenticatedBodyTestsOnPostgres(PostgresApp<BodyProbeSetup> app) : UnauthenticatedBodyTests(app), IClassFixture<PostgresApp<BodyProbeSetup>>;
