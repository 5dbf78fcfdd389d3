-- Coupons, addressed by their code (stored upper-case). Either percent_off or amount_off + currency. The coupon must
-- exist at Stripe as stripe_coupon_id (passed in discounts[0][coupon]) so that Stripe's own max_redemptions agrees.
-- times_redeemed counts the held and redeemed rows of coupon_redemptions: one conditional update per redemption
-- decides against max_redemptions; the coupon-recount job repairs drift.
create table coupons (
    id text primary key,
    code text not null,
    percent_off double precision,
    amount_off bigint,
    currency text,
    duration text not null,
    duration_in_months integer,
    stripe_coupon_id text not null,
    max_redemptions integer,
    times_redeemed integer not null default 0,
    expires_at timestamptz,
    first_time_only boolean not null default false,
    active boolean not null default true,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create unique index ux_coupons_code on coupons (code);

-- One redemption per (coupon, organization). state: held (a checkout session or plan change is using it), redeemed
-- (it went through), released (the checkout expired: the count was given back; a later redemption by the same
-- organization takes the row over). The row is never deleted: a coupon with any row is only ever deactivated.
create table coupon_redemptions (
    id text primary key,
    coupon_id text not null references coupons (id) on delete restrict,
    organization_id text not null,
    state text not null,
    reference text,
    checkout_session_id text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    released_at timestamptz
);
create unique index ux_coupon_redemptions_org on coupon_redemptions (coupon_id, organization_id);
create index ix_coupon_redemptions_session on coupon_redemptions (checkout_session_id) where checkout_session_id is not null;

-- The Stripe subscription schedule that carries a pending downgrade (released to cancel it).
alter table subscriptions add column pending_schedule_id text;

-- Plan violations: what an organization holds beyond the limits of the plan a downgrade moved it to. At most one
-- open (cleared_at null) violation per (organization, metric). action: read_only (meetings), notify_admin (team
-- members), grace_period (storage, blocking once grace_ends_at has passed).
create table plan_violations (
    id text primary key,
    organization_id text not null,
    metric text not null,
    plan_code text not null,
    current_usage bigint not null,
    limit_value bigint not null,
    action text not null,
    sentence text not null,
    grace_ends_at timestamptz,
    change_key text,
    detected_at timestamptz not null,
    final_warning_at timestamptz,
    cleared_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create unique index ux_plan_violations_open on plan_violations (organization_id, metric) where cleared_at is null;
create index ix_plan_violations_grace on plan_violations (grace_ends_at) where cleared_at is null and final_warning_at is null;
