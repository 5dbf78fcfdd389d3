using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Backstop.Infrastructure.Storage;

/// <summary>
/// Any S3-compatible store through AWSSDK.S3. Uploads are sent whole with a Content-Length and without aws-chunked
/// framing (<c>UseChunkEncoding = false</c>): stores that do not speak the streaming signature (s3rver, some
/// MinIO and R2 setups) would otherwise keep the chunk framing as the object's bytes. That needs the length up
/// front, so a stream that cannot seek is spooled to a temporary file first.
/// </summary>
internal sealed class S3FileStore : IFileStore, IDisposable
{
    private readonly AmazonS3Client client;
    private readonly string bucket;

    public S3FileStore(IOptions<StorageOptions> options)
    {
        var o = options.Value.S3;
        var config = new AmazonS3Config
        {
            ForcePathStyle = o.ForcePathStyle,
            AuthenticationRegion = o.Region,
            // Checksums only where S3 requires them: a default trailing checksum needs the chunked encoding turned off above.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (string.IsNullOrWhiteSpace(o.Endpoint)) config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(o.Region);
        else config.ServiceURL = o.Endpoint.Trim();
        client = new AmazonS3Client(new BasicAWSCredentials(o.AccessKey, o.SecretKey), config);
        bucket = o.Bucket!;
    }

    public async Task<StoredFile> PutAsync(string key, Stream content, string contentType, CancellationToken ct)
    {
        StorageKeys.Check(key);
        string? spool = null;
        var source = content;
        try
        {
            if (!content.CanSeek)
            {
                spool = Path.GetTempFileName();
                var file = new FileStream(spool, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
                await content.CopyToAsync(file, ct);
                file.Position = 0;
                source = file;
            }
            var size = source.Length - source.Position;
            await client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = bucket,
                Key = key,
                InputStream = source,
                ContentType = contentType,
                UseChunkEncoding = false,
                AutoCloseStream = false,
            }, ct);
            return new StoredFile(key, size, contentType);
        }
        finally
        {
            if (spool is not null) await source.DisposeAsync();
        }
    }

    public async Task<FileDownload?> OpenReadAsync(string key, CancellationToken ct)
    {
        StorageKeys.Check(key);
        try
        {
            var response = await client.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key }, ct);
            return new FileDownload(response.ResponseStream, response.ContentLength, response.Headers.ContentType ?? "application/octet-stream");
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task DeleteAsync(string key, CancellationToken ct)
    {
        StorageKeys.Check(key);
        try
        {
            // S3 answers 204 for a key that does not exist; some compatible stores answer 404 instead.
            await client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key }, ct);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
        }
    }

    public void Dispose() => client.Dispose();
}
