-- One-time code limits become sliding windows: each granted send is a row in otp_rate_events, counted over the
-- last window; the bucket's row in otp_rate_limits is upserted first so that concurrent requests for one bucket
-- queue behind each other before they count. The fixed-window counters are no longer used.
drop table otp_rate_counters;

create table otp_rate_limits (
    bucket text primary key,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index ix_otp_rate_limits_updated on otp_rate_limits (updated_at);

create table otp_rate_events (
    id text primary key,
    bucket text not null,
    created_at timestamptz not null
);
create index ix_otp_rate_events_bucket on otp_rate_events (bucket, created_at);
create index ix_otp_rate_events_created on otp_rate_events (created_at);

-- The latest keyword consent change applied to each number, with the time the inbound message that made it was
-- received: an older message processed late (an inbox retry) cannot undo a newer one.
create table sms_consent_states (
    phone_number text primary key,
    opted_out boolean not null,
    event_at timestamptz not null,
    message_sid text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
insert into sms_consent_states (phone_number, opted_out, event_at, message_sid, created_at, updated_at)
select phone_number, true, opted_out_at, null, created_at, updated_at from sms_opt_outs;

-- Whether the audited change was applied (true) or skipped because a newer message had already set the number's consent (false).
alter table sms_consent_audit add column applied boolean not null default true;
