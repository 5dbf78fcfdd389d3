namespace Backstop.Infrastructure.Jobs;

/// <summary>The category of a recurring job.</summary>
internal enum JobKind
{
    /// <summary>Keeps the service's own work moving (inbox, outbox, reconciliation, repairs).</summary>
    Maintenance,
    /// <summary>Removes or retires what is no longer needed (retention sweeps, orphaned bots, stored files, expired grace).</summary>
    Cleanup,
}

internal sealed record RecurringJobDefinition(string Id, string DefaultCron, Type Type, JobKind Kind = JobKind.Maintenance);
