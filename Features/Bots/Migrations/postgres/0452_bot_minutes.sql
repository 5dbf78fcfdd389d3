-- The bot_minutes each bot was counted (Quota's bot_minutes metric): one row per bot, inserted when its billed time
-- is first complete (a start and an end in its history); the primary key makes it once, whatever order or how many
-- times Recall delivers the events.
create table meeting_bot_minutes (
    bot_id text primary key,
    meeting_id text not null,
    organization_id text not null,
    started_at timestamptz not null,
    ended_at timestamptz not null,
    minutes integer not null,
    created_at timestamptz not null
);
