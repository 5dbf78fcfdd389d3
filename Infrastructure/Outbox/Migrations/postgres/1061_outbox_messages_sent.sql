-- The outbox sweep (every minute) deletes sent messages past their retention, oldest first, in batches of 1,000:
-- read from this index in order, instead of every sent message read and sorted for every batch and every run (#29).
-- status leads so SQLite's planner, without statistics, prefers it to ix_outbox_messages_status_channel.
create index ix_outbox_messages_sent on outbox_messages (status, sent_at) where status = 'sent';
