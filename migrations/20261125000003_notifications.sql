-- Contact points: where notices go. `settings` holds the kind's fields (e.g. the webhook URL: a secret, never shown
-- whole outside the server). Routing by severity: a contact point receives notices of rules at or above
-- `min_severity`.
CREATE TABLE contact_points (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('console', 'webhook', 'slack', 'logstash')),
    settings     JSONB NOT NULL DEFAULT '{}'::jsonb,
    min_severity TEXT NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'error', 'critical')),
    enabled      BOOLEAN NOT NULL DEFAULT true,
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contact_points_name_key ON contact_points (lower(name));

-- The outbox: one row per notice and contact point, written in the same transaction as the alert state change
-- that caused it, delivered (with retries) by the dispatcher. Nothing acknowledged by the evaluator is lost.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    contact_point_id BIGINT NOT NULL REFERENCES contact_points (id) ON DELETE CASCADE,
    idempotency_key  TEXT NOT NULL,
    payload          JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at     TIMESTAMPTZ,
    failed_at        TIMESTAMPTZ,
    last_error       TEXT,
    UNIQUE (contact_point_id, idempotency_key)
);
CREATE INDEX outbox_due ON outbox (contact_point_id, next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
