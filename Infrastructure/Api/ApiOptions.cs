namespace Backstop.Infrastructure.Api;

internal sealed class ApiOptions : IValidatedOptions
{
    public const string Section = "Api";

    /// <summary>Serve the API reference (<c>/docs</c>) and its OpenAPI document (<c>/openapi/v1.json</c>); false answers 404 for both.</summary>
    public bool DocsEnabled { get; set; } = true;

    public IEnumerable<string> Validate() => [];
}
