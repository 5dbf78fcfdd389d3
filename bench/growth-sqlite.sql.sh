#!/usr/bin/env bash
# Sourced by bench/growth.sh: prints the SQL that preloads a month of production data into Backstop's SQLite database
# (the service stopped), all in SQL: a recursive CTE per table, one transaction, the journal off while it runs.
# Reads: n_webhooks n_meetings n_orgs n_outbox n_audit big_org now_ms.
# Ids have the shape of the service's UUIDv7 ids (time first), spread over the 30 days before now, so every
# preloaded row is older than what the bench then writes, as in production. Shares (of the rows):
#   webhook_events  providers stripe 70%, clerk/recall/twilio 10% each; processed 88%, ignored 5%, failed 5%,
#                   dead 2% (taken from another digit than the provider, so the filters combine); 4 Stripe types
#   meetings        30% in the one large organization (the bench's tenant), the rest over the preloaded ones; done
#   organizations   one tenant key and two usage rows each
#   outbox_messages sent 97%, dead 3%; channels email, sms, event
#   audit_log       10% of the large organization; actor admin 30%; six actions
growth_sqlite_sql() {
  local span=$((30 * 86400 * 1000))
  # id(ms, i): a UUIDv7-shaped id, unique per i; ts(ms): the service's timestamp text (round-trip "O" format, UTC).
  id() { echo "printf('%08x-%04x-7%03x-8%03x-%012x', ($1) >> 16, ($1) & 65535, (($2) >> 12) & 4095, ($2) & 4095, ($2))"; }
  ts() { echo "(strftime('%Y-%m-%dT%H:%M:%S', ($1) / 1000, 'unixepoch') || printf('.%03d0000Z', ($1) % 1000))"; }
  seq() { echo "with recursive n(i) as (select 0 union all select i + 1 from n where i + 1 < $1)"; }
  local start=$((now_ms - span))
  local w_ms="($start + i * $((span / n_webhooks)))" m_ms="($start + i * $((span / n_meetings)))"
  local o_ms="($start + i * $((span / n_orgs)))" x_ms="($start + i * $((span / n_outbox)))" a_ms="($start + i * $((span / n_audit)))"
  cat <<SQL
pragma journal_mode = off;
pragma synchronous = off;
pragma cache_size = -400000;
begin;
$(seq "$n_orgs")
insert into organizations (id, external_id, slug, name, created_at, updated_at)
select $(id "$o_ms" i), null, 'growth-' || i, 'Growth organization ' || i, $(ts "$o_ms"), $(ts "$o_ms") from n;

$(seq "$n_orgs")
insert into api_keys (id, organization_id, name, lookup_id, prefix, key_hash, scopes, created_at, updated_at)
select $(id "$o_ms + 1" "i + 1000000000"), $(id "$o_ms" i), 'default', 'growth' || i, 'bk_growth' || i,
       lower(hex(randomblob(32))), 'read write', $(ts "$o_ms"), $(ts "$o_ms") from n;

$(seq "$n_orgs")
insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
select $(id "$o_ms" i), m.metric, '2026-11-01T00:00:00.0000000Z', '2026-12-01T00:00:00.0000000Z', i % 997, $(ts "$o_ms"), $(ts "$o_ms")
from n cross join (select 'meetings_per_month' as metric union all select 'storage_bytes') m;

$(seq "$n_webhooks")
insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, last_error,
                            received_at, processed_at, replay_count, created_at, updated_at)
select $(id "$w_ms" i), p.provider, 'evt_growth_' || i, p.type,
       '{"id":"evt_growth_' || i || '","object":"event","type":"' || p.type || '","api_version":"2019-02-19","created":'
         || ($w_ms / 1000) || ',"livemode":true,"data":{"object":{"id":"cus_growth_' || (i % 100000)
         || '","object":"customer","email":"customer' || (i % 100000) || '@example.com","metadata":{}}}}',
       p.status, case when p.status in ('failed', 'dead') then 3 else 1 end, $(ts "$w_ms"),
       case when p.status in ('failed', 'dead') then 'handler failed: timeout talking to the provider' end,
       $(ts "$w_ms"), case when p.status in ('processed', 'ignored') then $(ts "$w_ms + 40") end, 0, $(ts "$w_ms"), $(ts "$w_ms + 40")
from (select i,
             case when i % 10 < 7 then 'stripe' when i % 10 = 7 then 'clerk' when i % 10 = 8 then 'recall' else 'twilio' end as provider,
             case when i % 10 < 7 then (case (i / 10) % 4 when 0 then 'invoice.paid' when 1 then 'customer.subscription.updated'
                                                        when 2 then 'customer.created' else 'invoice.payment_failed' end)
                  when i % 10 = 7 then 'user.created' when i % 10 = 8 then 'bot.status_change' else 'sms.status' end as type,
             case when (i / 10) % 100 < 88 then 'processed' when (i / 10) % 100 < 93 then 'ignored'
                  when (i / 10) % 100 < 98 then 'failed' else 'dead' end as status
      from n) p;

$(seq "$n_meetings")
insert into meetings (id, organization_id, title, meeting_url, normalized_url, external_user_id, join_at, status, bot_id,
                      bot_status, bot_status_at, transcript_status, audio_key, audio_size, audio_content_type, created_at, updated_at)
select $(id "$m_ms" i),
       case when i % 10 < 3 then '$big_org' else $(id "($start + ((i * 7919) % $n_orgs) * $((span / n_orgs)))" "((i * 7919) % $n_orgs)") end,
       'Weekly sync ' || i, 'https://meet.google.com/grw-' || i, 'meet.google.com/grw-' || i, null, $(ts "$m_ms"), 'done',
       'bot_growth_' || i, 'done', $(ts "$m_ms + 3600000"), 'done', 'audio/' || i || '.mp3', 1048576, 'audio/mpeg',
       $(ts "$m_ms"), $(ts "$m_ms + 3600000")
from n;

$(seq "$n_outbox")
insert into outbox_messages (id, channel, idempotency_key, payload, reference, sensitive, status, attempts, max_attempts,
                             next_attempt_at, last_error, provider_id, sent_at, created_at, updated_at, organization_id, lane)
select $(id "$x_ms" i), case i % 3 when 0 then 'email' when 1 then 'sms' else 'event' end, 'growth-' || i,
       '{"to":"customer' || (i % 100000) || '@example.com","template":"receipt","data":{"amount":1200}}', null, 0,
       case when (i / 3) % 100 < 97 then 'sent' else 'dead' end, case when (i / 3) % 100 < 97 then 1 else 8 end, 8,
       $(ts "$x_ms"), case when (i / 3) % 100 >= 97 then 'provider answered 400' end,
       case when (i / 3) % 100 < 97 then 'prov_' || i end, case when (i / 3) % 100 < 97 then $(ts "$x_ms + 200") end,
       $(ts "$x_ms"), $(ts "$x_ms + 200"), null, ''
from n;

$(seq "$n_audit")
insert into audit_log (id, occurred_at, actor, action, target_type, target_id, organization_id, request_id, changes, created_at)
select $(id "$a_ms" i), $(ts "$a_ms"), case when i % 10 < 3 then 'admin' else 'key:growth' || (i % 1000) end,
       case i % 6 when 0 then 'organization.update' when 1 then 'api_key.create' when 2 then 'api_key.revoke'
                  when 3 then 'member.add' when 4 then 'webhook.replay' else 'organization.create' end,
       'organization', 'org_' || i,
       case when i % 10 = 0 then '$big_org' else $(id "($start + ((i * 7919) % $n_orgs) * $((span / n_orgs)))" "((i * 7919) % $n_orgs)") end,
       'req_growth_' || i, '{"name":["old","new"]}', $(ts "$a_ms")
from n;
commit;
pragma journal_mode = wal;
SQL
}
