-- When an operator last reset the counter (POST …/usage/{metric}/reset): reconciliation counts source rows from
-- then on, so it never undoes the reset.
alter table usage_counters add column reset_at text;
