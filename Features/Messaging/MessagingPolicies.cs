namespace Backstop.Features.Messaging;

/// <summary>The ApiKeys slice's scope policy names (Infrastructure/Security/BackstopPolicies.cs once merged).</summary>
internal static class MessagingPolicies
{
    public const string Read = "scope:read";
    public const string Write = "scope:write";
}
