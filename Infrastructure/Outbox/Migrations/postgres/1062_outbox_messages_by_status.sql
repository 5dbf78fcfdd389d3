-- The operator's outbox list filtered by status alone (GET /v1/admin/outbox?status=dead), newest first, read from an
-- index in list order instead of sorting every message of that status (#29, bench/growth.sh).
create index ix_outbox_messages_status_id on outbox_messages (status, id);
