-- One row per Clerk user: the time (Clerk's event timestamp, ms) of the latest user.deleted seen. Creation events
-- older than it are stale (Clerk does not promise order) and must not bring the user back.
create table clerk_users (
    external_user_id text primary key,
    deleted_event_at integer,
    created_at text not null,
    updated_at text not null
);
