-- The retention sweep of finished recoveries reads them from an index (#29).
create index ix_event_recoveries_finished on event_recoveries (finished_at);
