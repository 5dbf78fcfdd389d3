-- The Cleanup slice's sweeps over meetings (the Bots slice's table; see docs/cleanup.md for who owns which statement).
-- failure_details: JSON about how a meeting failed when more than a reason is known ({failureReason, cleanedUpAt,
-- originalBotId} for a bot the orphaned-bots sweep timed out).
alter table meetings add column failure_details text;
-- Partial indexes: each sweep reads only the few rows it may change, however large meetings grows.
create index ix_meetings_cleanup_active on meetings (id) where status in ('joining', 'in_call', 'recording');
create index ix_meetings_cleanup_audio on meetings (id) where deleted_at is not null and audio_key is not null;

-- Running totals per sweep, added to in the transaction of each batch, so they survive job_runs retention.
create table cleanup_totals (
    sweep text primary key,
    items_done bigint not null default 0,
    items_failed bigint not null default 0,
    bytes_freed bigint not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
