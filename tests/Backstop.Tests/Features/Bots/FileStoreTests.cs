using Backstop.Infrastructure.Storage;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Features.Bots;

public sealed class S3rverFixture : IAsyncLifetime
{
    public S3rverServer Server { get; } = new();

    public async ValueTask InitializeAsync() => await Server.StartAsync();

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

/// <summary>Both stores, through the same contract: the local directory and S3 (against s3rver, a real S3-compatible server).</summary>
public sealed class FileStoreTests(S3rverFixture s3) : IClassFixture<S3rverFixture>, IDisposable
{
    private readonly string localPath = Path.Combine(Path.GetTempPath(), "backstop-store-" + Guid.NewGuid().ToString("N")[..12]);

    private IFileStore Store(string kind)
    {
        if (kind == "local") return new LocalFileStore(Options.Create(new StorageOptions { LocalPath = localPath }));
        s3.Server.SkipIfUnavailable();
        var settings = new Dictionary<string, string?>();
        s3.Server.Apply(settings);
        return new S3FileStore(Options.Create(new StorageOptions
        {
            Provider = "s3",
            S3 = new S3StorageOptions
            {
                Endpoint = settings["Storage:S3:Endpoint"], Bucket = S3rverServer.Bucket, AccessKey = S3rverServer.AccessKey,
                SecretKey = S3rverServer.SecretKey, ForcePathStyle = true,
            },
        }));
    }

    /// <summary>A network-like stream: no length, no seeking (what a download gives).</summary>
    private sealed class ForwardOnly(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
    }

    private static byte[] Bytes(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 31 % 256)).ToArray();

    [Theory]
    [InlineData("local")]
    [InlineData("s3")]
    public async Task A_file_is_stored_whole_read_back_and_deleted(string kind)
    {
        var store = Store(kind);
        var key = $"meetings/{Guid.NewGuid()}/bot_1.mp3";
        // Larger than one aws-chunked chunk (64 KiB): chunk framing stored as the object's bytes would show here.
        var data = Bytes(300_000);
        var stored = await store.PutAsync(key, new ForwardOnly(data), "audio/mpeg", CancellationToken.None);
        stored.Size.ShouldBe(data.Length);

        var file = (await store.OpenReadAsync(key, CancellationToken.None)).ShouldNotBeNull();
        await using (file.Content)
        {
            using var copy = new MemoryStream();
            await file.Content.CopyToAsync(copy);
            copy.ToArray().ShouldBe(data);
        }
        file.ContentType.ShouldBe("audio/mpeg");

        // Replacing keeps one file with the new bytes.
        await store.PutAsync(key, new MemoryStream(Bytes(10)), "audio/mpeg", CancellationToken.None);
        var replaced = (await store.OpenReadAsync(key, CancellationToken.None))!;
        await using (replaced.Content)
        {
            using var copy = new MemoryStream();
            await replaced.Content.CopyToAsync(copy);
            copy.ToArray().ShouldBe(Bytes(10));
        }

        await store.DeleteAsync(key, CancellationToken.None);
        (await store.OpenReadAsync(key, CancellationToken.None)).ShouldBeNull();
    }

    [Theory]
    [InlineData("local")]
    [InlineData("s3")]
    public async Task Deleting_a_missing_file_is_success(string kind)
    {
        var store = Store(kind);
        await store.DeleteAsync($"meetings/{Guid.NewGuid()}/nothing.mp3", CancellationToken.None);
        (await store.OpenReadAsync($"meetings/{Guid.NewGuid()}/nothing.mp3", CancellationToken.None)).ShouldBeNull();
    }

    [Theory]
    [InlineData("../escape.mp3")]
    [InlineData("/etc/passwd")]
    [InlineData("meetings//x")]
    [InlineData("meetings\\x")]
    public async Task A_key_cannot_leave_the_store(string key) =>
        await Should.ThrowAsync<ArgumentException>(() => Store("local").PutAsync(key, new MemoryStream([1]), "audio/mpeg", CancellationToken.None));

    public void Dispose()
    {
        if (Directory.Exists(localPath)) Directory.Delete(localPath, recursive: true);
    }
}
