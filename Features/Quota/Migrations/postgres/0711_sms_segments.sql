-- SMS segments as Twilio bills them (Messaging's SmsSegments): POST /v1/sms and SMS one-time codes consume them.
-- creation false: sending is not creating something a past-due organization must be refused (plans limit it instead).
insert into usage_metrics (name, kind, description, default_limit, creation, built_in, created_at, updated_at) values
    ('sms_segments', 'counter', 'SMS segments sent per billing period (GSM-7 153/160, UCS-2 67/70 per segment).', null, false, true, '2026-12-07T00:00:00.00Z', '2026-12-07T00:00:00.00Z')
on conflict (name) do nothing;
