-- One row per group commit, written in the batch's transaction: after an error reported by the commit itself (a
-- connection lost while the server committed), the row tells whether the batch is in the database, so it is never
-- decided (and counted) a second time. Pruned by the daily key retention after a day.
create table usage_commits (
    id text primary key,
    created_at text not null
);
