-- The organization a message is for, when the enqueuing slice says so: deleting the organization cancels its
-- pending messages (emails to its owners, Stripe calls about its subscription) in the deletion's transaction.
alter table outbox_messages add column organization_id text;
create index ix_outbox_messages_organization on outbox_messages (organization_id) where status = 'pending';
