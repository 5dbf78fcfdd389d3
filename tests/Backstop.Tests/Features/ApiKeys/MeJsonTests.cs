using System.Text.Json.Serialization;
using Backstop.Features.ApiKeys;

namespace Backstop.Tests.Features.ApiKeys;

/// <summary><c>GET /v1/me</c> is serialised by generated code; its bytes must be what the API's reflection-based options write.</summary>
public sealed class MeJsonTests
{
    // As Infrastructure/Api/ApiExtensions configures FastEndpoints' serializer for every other response.
    private static readonly JsonSerializerOptions Api = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    [Theory]
    [InlineData("Acme", "acme")]
    [InlineData("Ünïcødé & <b>\"quoted\"</b> \u2028 'x' \\ / \t", "unicode-co")]
    [InlineData("", "")]
    public void The_generated_serializer_writes_what_the_api_options_write(string name, string slug)
    {
        var me = new MeResponse(new("org_01", slug, name), new("key_01", "bsk_live_abcdefghijkl", ["read", "write"]));
        var generated = JsonSerializer.Serialize(me, MeJsonContext.Default.MeResponse);
        generated.ShouldBe(JsonSerializer.Serialize(me, Api));
        generated.ShouldStartWith("""{"organization":{"id":"org_01",""");

        var noScopes = me with { Key = me.Key with { Scopes = [] } };
        JsonSerializer.Serialize(noScopes, MeJsonContext.Default.MeResponse).ShouldBe(JsonSerializer.Serialize(noScopes, Api));
    }
}
