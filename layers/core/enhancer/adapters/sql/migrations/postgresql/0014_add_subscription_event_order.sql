-- Billing in any delivery order (docs/architecture.md §8): the `created` second of the Stripe event that last
-- wrote a subscription, so an older event never overwrites a newer one, and the price it was on.
ALTER TABLE subscriptions ADD COLUMN last_event_at BIGINT;
ALTER TABLE subscriptions ADD COLUMN price_id TEXT;
