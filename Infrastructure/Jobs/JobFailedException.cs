using Hangfire;
using Prometheus;
using Serilog.Context;

namespace Backstop.Infrastructure.Jobs;

internal sealed class JobFailedException(string jobId, string error) : Exception($"Job {jobId} failed: {error}");
