create table organizations (
    id text primary key,
    external_id text,
    slug text not null,
    name text not null,
    created_at text not null,
    updated_at text not null,
    deleted_at text
);
-- Unique over deleted rows too: an identity provider's organization maps to one of ours, ever.
create unique index ux_organizations_external_id on organizations (external_id);
create unique index ux_organizations_slug on organizations (slug) where deleted_at is null;

create table organization_members (
    id text primary key,
    organization_id text not null references organizations (id),
    external_user_id text,
    email text,
    display_name text,
    role text not null,
    created_at text not null,
    updated_at text not null,
    deleted_at text
);
create unique index ux_organization_members_external on organization_members (organization_id, external_user_id) where deleted_at is null;
create index ix_organization_members_org on organization_members (organization_id, id);
create index ix_organization_members_external_user on organization_members (external_user_id);

create table api_keys (
    id text primary key,
    organization_id text not null references organizations (id),
    name text not null,
    lookup_id text not null,
    prefix text not null,
    key_hash text not null,
    scopes text not null,
    expires_at text,
    revoked_at text,
    rotated_at text,
    replaced_by_id text,
    last_used_at text,
    created_at text not null,
    updated_at text not null
);
create unique index ux_api_keys_lookup_id on api_keys (lookup_id);
create index ix_api_keys_org on api_keys (organization_id, id);

-- One row per client address + key prefix (scope 'pair') and per client address (scope 'ip', prefix '').
create table auth_failures (
    scope text not null,
    ip text not null,
    prefix text not null,
    failures integer not null,
    window_started_at text not null,
    locked_until text,
    created_at text not null,
    updated_at text not null,
    primary key (scope, ip, prefix)
);
-- The cleanup job finds dead rows by window start.
create index ix_auth_failures_window on auth_failures (window_started_at);
