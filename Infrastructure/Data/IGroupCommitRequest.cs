using System.Threading.Channels;

namespace Backstop.Infrastructure.Data;

/// <summary>A request queued for a <see cref="GroupCommit{TRequest, TResult}"/>: completed once the batch holding it is decided.</summary>
internal interface IGroupCommitRequest<TResult>
{
    /// <summary>Completed by the writer with the request's result, or failed with what refused it.</summary>
    TaskCompletionSource<TResult> Done { get; }

    /// <summary>How much of a batch's maximum the request takes (a batch request's items count each); a request is never split.</summary>
    int Weight => 1;
}
