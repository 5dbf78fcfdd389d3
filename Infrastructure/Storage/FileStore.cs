namespace Backstop.Infrastructure.Storage;

internal sealed record StoredFile(string Key, long Size, string ContentType);

internal sealed record FileDownload(Stream Content, long? Size, string ContentType);
