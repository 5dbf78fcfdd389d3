using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Features.ApiKeys;

public sealed class KeyFormatTests
{
    [Fact]
    public void A_generated_key_parses_and_has_the_documented_shape()
    {
        var (key, parts) = KeyFormat.Generate();
        key.ShouldMatch(@"^bsk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{30}$");
        KeyFormat.TryParse(key).ShouldBe(parts);
        parts.Prefix.ShouldBe(key[..21]);
        KeyFormat.PrefixOf(key).ShouldBe(parts.Prefix);
    }

    [Fact]
    public void Keys_are_unique()
    {
        var keys = Enumerable.Range(0, 2000).Select(_ => KeyFormat.Generate().Key).ToList();
        keys.Distinct().Count().ShouldBe(keys.Count);
    }

    [Fact]
    public void Every_single_character_change_of_the_secret_or_id_is_caught_by_the_checksum()
    {
        var (key, _) = KeyFormat.Generate();
        const string alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        var caught = 0;
        var tried = 0;
        for (var i = KeyFormat.TypePrefix.Length; i < key.Length; i++)
        {
            if (key[i] == '_') continue;
            foreach (var c in alphabet.Where(c => c != key[i]).Take(5))
            {
                tried++;
                if (KeyFormat.TryParse(key[..i] + c + key[(i + 1)..]) is null) caught++;
            }
        }
        caught.ShouldBe(tried);
        KeyFormat.TryParse(key[..^1]).ShouldBeNull();
        KeyFormat.TryParse(key + "x").ShouldBeNull();
        KeyFormat.TryParse(key.Replace("bsk_live_", "bsk_test_")).ShouldBeNull();
    }

    [Fact]
    public void The_shape_is_checked_apart_from_the_checksum()
    {
        var (key, parts) = KeyFormat.Generate();
        KeyFormat.TryParseShape(key).ShouldBe(parts);
        KeyFormat.ChecksumMatches(key).ShouldBeTrue();

        var broken = key[..^1] + (key[^1] == 'a' ? 'b' : 'a');
        KeyFormat.TryParseShape(broken).ShouldBe(parts);
        KeyFormat.ChecksumMatches(broken).ShouldBeFalse();
        KeyFormat.TryParse(broken).ShouldBeNull();

        KeyFormat.TryParseShape(key[..^1]).ShouldBeNull();
        KeyFormat.TryParseShape(key.Replace("bsk_live_", "bsk_test_")).ShouldBeNull();
        KeyFormat.TryParseShape(key[..21] + "-" + key[22..]).ShouldBeNull();
        KeyFormat.TryParseShape(key[..30] + "!" + key[31..]).ShouldBeNull();
        KeyFormat.ChecksumMatches("short").ShouldBeFalse();
    }

    [Fact]
    public void A_digest_is_the_hash_as_bytes_and_only_a_real_hash_decodes()
    {
        var (key, _) = KeyFormat.Generate();
        var digest = Secrets.Digest(key);
        Convert.ToHexStringLower(digest).ShouldBe(Secrets.Hash(key));
        Secrets.DigestOf(Secrets.Hash(key)).ShouldBe(digest);
        Secrets.FixedTimeEquals(digest, Secrets.Digest(key)).ShouldBeTrue();
        Secrets.FixedTimeEquals(digest, Secrets.Digest(key + "x")).ShouldBeFalse();
        Secrets.DigestOf("").ShouldBeNull();
        Secrets.DigestOf(Secrets.Hash(key)[..^2]).ShouldBeNull();
        Secrets.DigestOf(new string('g', 64)).ShouldBeNull();
    }

    [Fact]
    public void The_prefix_of_anything_else_never_contains_secret_characters()
    {
        KeyFormat.PrefixOf("sk_live_abc").ShouldBeNull();
        KeyFormat.PrefixOf("bsk_live_ab").ShouldBe("bsk_live_malformed");
        KeyFormat.PrefixOf("bsk_live_!!!!!!!!!!!!!_secret").ShouldBe("bsk_live_malformed");
    }

    private static ClientIp Resolver(params string[] trusted) => new(Options.Create(new SecurityOptions { TrustedProxies = trusted }));

    private static HttpContext Request(string? remote, string? forwardedFor = null)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = remote is null ? null : System.Net.IPAddress.Parse(remote);
        if (forwardedFor is not null) context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        return context;
    }

    [Fact]
    public void The_client_address_is_the_connection_unless_a_trusted_proxy_forwards_it()
    {
        Resolver().Resolve(Request(null)).ShouldBe(ClientIp.Unknown);
        Resolver().Resolve(Request("203.0.113.7", "1.1.1.1")).ShouldBe("203.0.113.7");
        Resolver("10.0.0.1").Resolve(Request("10.0.0.1", "1.1.1.1, 203.0.113.7")).ShouldBe("203.0.113.7");
        Resolver("10.0.0.1", "10.0.0.2").Resolve(Request("10.0.0.1", "203.0.113.7, 10.0.0.2")).ShouldBe("203.0.113.7");
        Resolver("10.0.0.1").Resolve(Request("10.0.0.1")).ShouldBe("10.0.0.1");
        Resolver("10.0.0.1").Resolve(Request("::ffff:10.0.0.1", "203.0.113.8:4711")).ShouldBe("203.0.113.8");
        Resolver().Resolve(Request("2001:db8:1:2:3:4:5:6")).ShouldBe("2001:db8:1:2::/64");
    }
}
