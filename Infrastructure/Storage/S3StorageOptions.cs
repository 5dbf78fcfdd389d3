namespace Backstop.Infrastructure.Storage;

internal sealed class S3StorageOptions
{
    /// <summary>Empty: AWS S3 itself in <see cref="Region"/>. Set for MinIO, R2, s3rver, …</summary>
    public string? Endpoint { get; set; }

    public string? Bucket { get; set; }

    public string Region { get; set; } = "us-east-1";

    public string? AccessKey { get; set; }

    public string? SecretKey { get; set; }

    /// <summary><c>endpoint/bucket/key</c> instead of <c>bucket.endpoint/key</c>; most self-hosted stores need it.</summary>
    public bool ForcePathStyle { get; set; } = true;
}
