using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Backstop.Infrastructure.Providers.Recall;

/// <summary>Why a recording was not copied: a rule of the careful download was broken (the meeting fails), or not.</summary>
internal sealed class RecordingRefusedException(string reason, string message) : Exception(message)
{
    /// <summary>A stable reason: <c>host_not_allowed</c>, <c>not_https</c>, <c>redirect_refused</c>, <c>too_large</c>, <c>length_mismatch</c>, <c>timeout</c>.</summary>
    public string Reason { get; } = reason;
}
