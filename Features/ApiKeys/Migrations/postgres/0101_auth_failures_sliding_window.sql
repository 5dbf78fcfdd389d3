-- The lockout counters become exact sliding windows: every counted failure is a row in auth_failure_events, and a
-- counter locks when the failures of the last window reach its limit. The auth_failures row of a counter stays: it
-- holds the lock (locked_until) and is upserted first by every failure, so that concurrent failures of one counter
-- queue behind each other before they count. failures now records the count in the window at the last failure.

create table auth_failure_events (
    id text primary key,
    scope text not null,
    ip text not null,
    prefix text not null,
    created_at timestamptz not null
);
create index ix_auth_failure_events_counter on auth_failure_events (scope, ip, prefix, created_at);
create index ix_auth_failure_events_created on auth_failure_events (created_at);

-- Counts in progress carry over: a window's failures become events at the window's start, so they stop counting
-- when that window would have ended (the cleanup job deletes those of windows that already have).
insert into auth_failure_events (id, scope, ip, prefix, created_at)
select 'migrated|' || f.scope || '|' || f.ip || '|' || f.prefix || '|' || n, f.scope, f.ip, f.prefix, f.window_started_at
from auth_failures f, generate_series(1, least(f.failures, 1000000)) n;

alter table auth_failures rename column window_started_at to last_failure_at;
drop index ix_auth_failures_window;
-- The cleanup job finds dead counters by their last failure.
create index ix_auth_failures_last_failure on auth_failures (last_failure_at);
