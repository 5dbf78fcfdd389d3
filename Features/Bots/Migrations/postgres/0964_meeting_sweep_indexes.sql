-- Deleted meetings (the transcript retention sweep joins them) and the live meetings by status (the
-- backstop_meetings_by_status gauge) read from indexes, however many meetings the table holds (#29).
create index ix_meetings_deleted on meetings (deleted_at) where deleted_at is not null;
create index ix_meetings_live_status on meetings (status) where deleted_at is null;
