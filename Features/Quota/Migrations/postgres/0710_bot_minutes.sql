-- Recall bot time, as Recall bills it (Bots' BotMinutes): from joining_call to call_ended/fatal, per second, waiting
-- room included, a bot that fails before joining not counted; recorded once per bot at its end, rounded up to whole
-- minutes. creation false: the time was already spent when it is recorded (plans cap it: Billing's violations block new bots).
insert into usage_metrics (name, kind, description, default_limit, creation, built_in, created_at, updated_at) values
    ('bot_minutes', 'counter', 'Recording bot minutes per billing period (from joining the call to its end, each bot rounded up to a whole minute).', null, false, true, '2026-12-07T00:00:00.00Z', '2026-12-07T00:00:00.00Z')
on conflict (name) do nothing;
