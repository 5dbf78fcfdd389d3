namespace Backstop.Infrastructure.Storage;

/// <summary>Section <c>Storage</c>: where recordings are kept. <c>local</c> (a directory) by default, or any S3-compatible store.</summary>
internal sealed class StorageOptions : IValidatedOptions
{
    public const string Section = "Storage";

    /// <summary><c>local</c> or <c>s3</c>.</summary>
    public string Provider { get; set; } = "local";

    public string LocalPath { get; set; } = "./data/files";

    public S3StorageOptions S3 { get; set; } = new();

    public bool IsS3 => string.Equals(Provider, "s3", StringComparison.OrdinalIgnoreCase);

    public IEnumerable<string> Validate()
    {
        if (!IsS3 && !string.Equals(Provider, "local", StringComparison.OrdinalIgnoreCase))
            yield return $"Storage:Provider must be local or s3 (got '{Provider}').";
        if (!IsS3 && string.IsNullOrWhiteSpace(LocalPath)) yield return "Storage:LocalPath must not be empty.";
        if (IsS3)
        {
            if (string.IsNullOrWhiteSpace(S3.Bucket)) yield return "Storage:S3:Bucket is required when Storage:Provider is s3.";
            if (string.IsNullOrWhiteSpace(S3.AccessKey)) yield return "Storage:S3:AccessKey is required when Storage:Provider is s3.";
            if (string.IsNullOrWhiteSpace(S3.SecretKey)) yield return "Storage:S3:SecretKey is required when Storage:Provider is s3.";
            if (!string.IsNullOrWhiteSpace(S3.Endpoint) && !(Uri.TryCreate(S3.Endpoint, UriKind.Absolute, out var e) && e.Scheme is "http" or "https"))
                yield return $"Storage:S3:Endpoint must be an absolute http(s) URL (got '{S3.Endpoint}').";
            if (string.IsNullOrWhiteSpace(S3.Region)) yield return "Storage:S3:Region must not be empty.";
        }
    }
}
