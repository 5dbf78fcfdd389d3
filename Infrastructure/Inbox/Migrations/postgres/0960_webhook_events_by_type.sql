-- The operator's inbox list filtered by type (GET /v1/admin/webhooks?type=), newest first, read from an index (#29).
create index ix_webhook_events_type on webhook_events (event_type, id);
