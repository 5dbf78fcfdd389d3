-- A metric's own reset window, independent of the plan's billing interval: a yearly plan's meetings_per_month
-- resets every month from the anchor's day. 'month' (the default, so counters declared by other slices' inserts
-- work unchanged), 'billing_period', 'day', 'year', or 'none' (gauges: never reset).
-- display_name and unit: how downgrade previews and violations name the metric ("3 chatbots").
alter table usage_metrics add column usage_window text not null default 'month'
    check (usage_window in ('month', 'billing_period', 'day', 'year', 'none'));
alter table usage_metrics add column display_name text;
alter table usage_metrics add column unit text;
update usage_metrics set usage_window = 'none' where kind = 'gauge';
update usage_metrics set display_name = 'meetings', unit = 'meetings' where name = 'meetings_per_month';
update usage_metrics set display_name = 'team members', unit = 'members' where name = 'team_members';
update usage_metrics set display_name = 'stored recordings', unit = 'bytes' where name = 'storage_bytes';
