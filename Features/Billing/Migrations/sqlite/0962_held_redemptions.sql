-- The coupon-recount sweep reads held redemptions (a few) from an index, not every redemption ever made (#29).
create index ix_coupon_redemptions_state on coupon_redemptions (state, id);
