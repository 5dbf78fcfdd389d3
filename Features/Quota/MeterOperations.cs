using Backstop.Features.Billing;

namespace Backstop.Features.Quota;

internal static class MeterOperations
{
    public const string Consume = "consume";
    public const string Record = "record";
    public const string Release = "release";
}
