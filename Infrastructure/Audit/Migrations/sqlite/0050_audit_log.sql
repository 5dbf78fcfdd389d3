-- Append-only: rows are never updated, so there is no updated_at; nothing deletes them (no retention job).
create table audit_log (
    id text primary key,
    occurred_at text not null,
    actor text not null,
    action text not null,
    target_type text not null,
    target_id text not null,
    organization_id text,
    request_id text,
    changes text,
    created_at text not null
);
create index ix_audit_log_org on audit_log (organization_id, id);
create index ix_audit_log_actor on audit_log (actor, id);
create index ix_audit_log_action on audit_log (action, id);
