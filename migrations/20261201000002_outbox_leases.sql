-- Delivery by lease: a dispatcher claims a batch (`leased_until`) in a short transaction and sends it holding no
-- lock; an expired lease makes the batch claimable again (same idempotency key). `last_attempt_at` feeds each
-- contact point's delivery status.
ALTER TABLE outbox
    ADD COLUMN leased_until    TIMESTAMPTZ,
    ADD COLUMN last_attempt_at TIMESTAMPTZ;
