-- Indexes for the usage sweeps and the drift list (#29): expired counters, old commit records, drift by metric.
create index ix_usage_counters_period_end on usage_counters (period_end);
create index ix_usage_commits_created on usage_commits (created_at);
create index ix_usage_drift_metric on usage_drift (metric, id);
