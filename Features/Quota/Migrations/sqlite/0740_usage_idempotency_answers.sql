-- An idempotency key's answer in typed columns, written once with the decision it answers (in the same transaction):
-- status (always 200: only what was counted is stored, a refusal is decided again on retry), used and limit_value
-- (the reading the first request was answered with; remaining and overage follow from them), period_start and
-- period_end (the counter's period; both 1970-01-01 for a gauge). Replaces the JSON body of 0700 (response).
-- Old rows are converted: counted answers keep their reading; anything else (a refusal stored by an earlier version,
-- or a claim without an answer) is dropped, so a retry of it is decided again.
create table usage_idempotency_answers (
    organization_id text not null,
    metric text not null,
    idempotency_key text not null,
    operation text not null,
    amount integer not null,
    status integer not null,
    used integer not null,
    limit_value integer not null,
    period_start text not null,
    period_end text not null,
    created_at text not null,
    primary key (organization_id, metric, idempotency_key)
);
insert into usage_idempotency_answers
    (organization_id, metric, idempotency_key, operation, amount, status, used, limit_value, period_start, period_end, created_at)
select i.organization_id, i.metric, i.idempotency_key, i.operation, i.amount, i.status,
       json_extract(i.response, '$.used'), json_extract(i.response, '$.limit'), i.period_start,
       coalesce(strftime('%Y-%m-%dT%H:%M:%f', json_extract(i.response, '$.periodEnd')) || '0000Z', i.period_start),
       i.created_at
from usage_idempotency i
where i.status = 200 and json_valid(i.response)
  and json_type(i.response, '$.used') = 'integer' and json_type(i.response, '$.limit') = 'integer';
drop table usage_idempotency;
alter table usage_idempotency_answers rename to usage_idempotency;
create index ix_usage_idempotency_created on usage_idempotency (created_at);
