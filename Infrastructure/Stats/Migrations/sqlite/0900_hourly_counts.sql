-- Hourly counts for the operator console (docs/operations.md): how many webhooks, outbox sends and event deliveries
-- each hour brought, by what they are about (subject: a provider, a channel) and outcome. Written by the services
-- in the transactions they already run (the inbox's group commit, the outbox's result, the delivery log) as one
-- upsert `n = n + excluded.n`; summed over `shard` when read. The shard (0-7, random per write) spreads concurrent
-- writers of one hour's row over several rows, so on PostgreSQL parallel deliveries do not queue on one row lock
-- until their commits. Pruned after 30 days by the job-runs-retention sweep.
create table hourly_counts (
    hour text not null,
    kind text not null,
    subject text not null,
    outcome text not null,
    shard integer not null,
    n integer not null,
    created_at text not null,
    updated_at text not null,
    primary key (hour, kind, subject, outcome, shard)
);
