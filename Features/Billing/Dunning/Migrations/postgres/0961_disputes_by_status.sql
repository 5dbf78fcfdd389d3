-- GET /v1/admin/billing/disputes?status=, newest first, read from an index (#29).
create index ix_billing_disputes_status on billing_disputes (status, id);
