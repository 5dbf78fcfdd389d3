-- Keys that sign operators in to the console (/console): named, with a role (admin or read_only); only a hash is stored.
create table operator_keys (
    id text primary key,
    name text not null,
    role text not null,
    prefix text not null,
    key_hash text not null,
    last_used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create unique index ux_operator_keys_hash on operator_keys (key_hash);
-- The name is what the audit log shows as the actor: one live key per name.
create unique index ux_operator_keys_live_name on operator_keys (name) where revoked_at is null;
