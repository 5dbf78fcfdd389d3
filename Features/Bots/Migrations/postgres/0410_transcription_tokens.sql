-- A callback token expires (Deepgram:CallbackTokenHours after it was issued, or when its transcription completes);
-- rows issued before this column existed expire created_at + the same hours.
alter table transcriptions add column token_expires_at timestamptz;
