namespace Backstop.Infrastructure.Jobs;

/// <summary>
/// A job that counts more than its item total (items done and failed, bytes freed, batches). Read once the run ends,
/// successful or not, and stored in <c>job_runs.counts</c>.
/// </summary>
internal interface IReportsCounts
{
    IReadOnlyDictionary<string, long> Counts { get; }
}
