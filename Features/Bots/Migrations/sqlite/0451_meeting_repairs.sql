-- What the bot-pipeline-repair sweep tried for a meeting's bot, per kind (fetch: a recording asked for again;
-- transcribe: a transcription requested again): the attempts decide when it gives up (3 fetches; 1 transcription).
-- Keyed by the bot, so a new bot of the meeting starts afresh.
create table meeting_repairs (
    meeting_id text not null,
    bot_id text not null,
    kind text not null,
    attempts integer not null,
    last_attempt_at text not null,
    primary key (meeting_id, bot_id, kind)
);
