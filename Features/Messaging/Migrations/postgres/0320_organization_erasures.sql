-- Organizations deleted, as Messaging heard it (its deletion listener, in the deletion's transaction): their SMS and
-- one-time-code rows are deleted by messaging-cleanup once Cleanup:StorageRetentionDays have passed since.
create table messaging_organization_erasures (
    organization_id text primary key,
    deleted_at timestamptz not null,
    created_at timestamptz not null
);
create index ix_messaging_organization_erasures_deleted on messaging_organization_erasures (deleted_at);
