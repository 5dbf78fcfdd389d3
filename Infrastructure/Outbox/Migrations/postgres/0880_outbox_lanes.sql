-- Batched, fair claims (docs/events.md, Performance). target: what a message is delivered to, when its channel limits
-- the deliveries in flight per target (an event endpoint's id); lane: the fairness partition of a claim, the target or
-- else the organization ('' for neither). A claim walks the lanes of pending messages through
-- ix_outbox_messages_lane_due (one index seek per lane), takes each lane's oldest due messages, ranks them across lanes
-- and leaves a target's messages unclaimed while it has its limit in flight (counted over the few sending rows,
-- ix_outbox_messages_leased), so its cost does not grow with one lane's backlog.
alter table outbox_messages add column target text;
alter table outbox_messages add column lane text not null default '';
update outbox_messages set target = (payload::jsonb ->> 'endpointId') where channel = 'event' and status in ('pending', 'sending');
update outbox_messages set lane = coalesce(target, organization_id, '') where status in ('pending', 'sending');
create index ix_outbox_messages_lane_due on outbox_messages (lane, next_attempt_at, id) where status = 'pending';
