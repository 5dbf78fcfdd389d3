namespace Backstop.Infrastructure.Storage;

/// <summary>Where files (recordings) live. Keys are paths made by the caller (<c>meetings/{id}/{bot}.mp3</c>).</summary>
internal interface IFileStore
{
    /// <summary>Stores the whole stream under the key (replacing what was there) and answers the size written.</summary>
    Task<StoredFile> PutAsync(string key, Stream content, string contentType, CancellationToken ct);

    /// <summary>The file's bytes, or null when no file has this key.</summary>
    Task<FileDownload?> OpenReadAsync(string key, CancellationToken ct);

    /// <summary>Removes the file; a key with no file is success (a retried or repeated delete must not fail).</summary>
    Task DeleteAsync(string key, CancellationToken ct);
}
