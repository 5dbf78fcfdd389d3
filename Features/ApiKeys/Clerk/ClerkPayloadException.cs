using Backstop.Features.ApiKeys;

namespace Backstop.Features.ApiKeys.Clerk;

/// <summary>A Clerk payload that lacks what provisioning needs. Processing fails (and is retried, then dead).</summary>
internal sealed class ClerkPayloadException(string message) : Exception(message);
