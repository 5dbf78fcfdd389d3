-- Every bot started on an existing meeting (a restart) counts a meetings_per_month consumption, like the meeting's
-- creation did: one row per claim, written with the claim and removed when the start is undone (Recall refused),
-- so the usage counter can be derived from rows (meetings created + restarts in the period).
create table meeting_bot_starts (
    meeting_id text not null,
    claim text not null,
    organization_id text not null,
    created_at text not null,
    primary key (meeting_id, claim)
);
create index ix_meeting_bot_starts_org on meeting_bot_starts (organization_id, created_at);
