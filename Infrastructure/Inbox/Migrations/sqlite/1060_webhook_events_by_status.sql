-- The operator's inbox list filtered by status or by provider (GET /v1/admin/webhooks?status=failed,
-- ?provider=stripe, both), newest first, read from an index in list order instead of sorting every event of that
-- status or provider (#29, bench/growth.sh).
create index ix_webhook_events_status_id on webhook_events (status, id);
create index ix_webhook_events_provider_id on webhook_events (provider, id);
