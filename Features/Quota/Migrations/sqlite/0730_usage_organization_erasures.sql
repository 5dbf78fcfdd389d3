-- Organizations deleted (written in the deletion's transaction): the Cleanup slice's storage sweep asks Quota
-- (IUsageRetention) to delete every usage row of those deleted more than Cleanup:StorageRetentionDays ago. Kept after
-- the sweep (one row per deleted organization), so a row written for one later (a late renewal event) goes on the
-- next run too.
create table usage_organization_erasures (
    organization_id text primary key,
    deleted_at text not null,
    created_at text not null
);
create index ix_usage_organization_erasures_deleted on usage_organization_erasures (deleted_at);
