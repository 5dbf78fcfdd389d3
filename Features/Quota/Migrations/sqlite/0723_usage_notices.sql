-- thresholds: the percentages of the limit at which the organization's owners are told (comma-separated, default
-- 80 and 100). limit_mode: 'hard' refuses past the limit; 'soft' admits, counts the overage and raises the 100 % notice.
alter table usage_metrics add column thresholds text not null default '80,100';
alter table usage_metrics add column limit_mode text not null default 'hard' check (limit_mode in ('hard', 'soft'));

-- Each threshold notice raised, once per (organization, metric, period, threshold): the primary key decides, in the
-- transaction of the consumption that crossed it.
create table usage_notices (
    organization_id text not null,
    metric text not null,
    period_start text not null,
    threshold integer not null,
    used integer not null,
    limit_value integer not null,
    raised_at text not null,
    primary key (organization_id, metric, period_start, threshold)
);
