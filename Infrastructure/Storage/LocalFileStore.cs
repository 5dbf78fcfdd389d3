namespace Backstop.Infrastructure.Storage;

/// <summary>
/// Files in a directory (<c>Storage:LocalPath</c>). A file is written beside its final name and renamed into place,
/// so a reader never sees half a file and a crash leaves at most a temporary file behind. The content type is kept
/// in a small sidecar file.
/// </summary>
internal sealed class LocalFileStore(IOptions<StorageOptions> options) : IFileStore
{
    private string Root => Path.GetFullPath(options.Value.LocalPath);

    private string PathOf(string key) => Path.Combine(Root, StorageKeys.Check(key).Replace('/', Path.DirectorySeparatorChar));

    public async Task<StoredFile> PutAsync(string key, Stream content, string contentType, CancellationToken ct)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            long size;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                await content.CopyToAsync(file, ct);
                await file.FlushAsync(ct);
                size = file.Length;
            }
            await File.WriteAllTextAsync(path + ".type", contentType, ct);
            File.Move(temp, path, overwrite: true);
            return new StoredFile(key, size, contentType);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public async Task<FileDownload?> OpenReadAsync(string key, CancellationToken ct)
    {
        var path = PathOf(key);
        if (!File.Exists(path)) return null;
        var type = File.Exists(path + ".type") ? await File.ReadAllTextAsync(path + ".type", ct) : "application/octet-stream";
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81920, useAsync: true);
        return new FileDownload(stream, stream.Length, type);
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        var path = PathOf(key);
        // File.Delete of a missing file is not an error; a missing directory would be, hence the check.
        if (File.Exists(path)) File.Delete(path);
        if (File.Exists(path + ".type")) File.Delete(path + ".type");
        return Task.CompletedTask;
    }
}
