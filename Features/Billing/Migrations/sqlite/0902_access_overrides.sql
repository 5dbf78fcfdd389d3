-- An operator's lift of a suspension (POST /v1/admin/organizations/{id}/suspension-lift, docs/billing.md): until
-- `until`, the access gate admits the organization whatever its payment state (past due, suspended, unpaid; not a
-- pause the customer asked for). One row per organization: a new lift replaces the previous one.
create table access_overrides (
    organization_id text primary key,
    until text not null,
    reason text not null,
    created_at text not null,
    updated_at text not null
);
