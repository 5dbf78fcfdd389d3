-- An idempotency key's answer in typed columns, written once with the decision it answers (in the same transaction):
-- status (always 200: only what was counted is stored, a refusal is decided again on retry), used and limit_value
-- (the reading the first request was answered with; remaining and overage follow from them), period_start and
-- period_end (the counter's period; both 1970-01-01 for a gauge). Replaces the JSON body of 0700 (response).
-- Old rows are converted: counted answers keep their reading; anything else (a refusal stored by an earlier version,
-- or a claim without an answer) is dropped, so a retry of it is decided again.
alter table usage_idempotency add column used bigint, add column limit_value bigint, add column period_end timestamptz;
delete from usage_idempotency
where case when status = 200 and response like '{%'
           then jsonb_typeof(response::jsonb -> 'used') is distinct from 'number'
             or jsonb_typeof(response::jsonb -> 'limit') is distinct from 'number'
           else true end;
update usage_idempotency
set used = (response::jsonb ->> 'used')::bigint,
    limit_value = (response::jsonb ->> 'limit')::bigint,
    period_end = coalesce((response::jsonb ->> 'periodEnd')::timestamptz, period_start);
alter table usage_idempotency
    alter column used set not null,
    alter column limit_value set not null,
    alter column period_end set not null,
    drop column response;
