-- Silences: while one is active, notices of alerts whose labels match all its matchers are not sent (they are
-- still evaluated and recorded).
CREATE TABLE silences (
    id         BIGSERIAL PRIMARY KEY,
    matchers   TEXT[] NOT NULL,
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL CHECK (ends_at > starts_at),
    comment    TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Acknowledgement (cleared when the alert resolves) and the last notice sent, for the repeat interval.
ALTER TABLE alert_states
    ADD COLUMN acknowledged_at TIMESTAMPTZ,
    ADD COLUMN acknowledged_by TEXT,
    ADD COLUMN last_sent_at    TIMESTAMPTZ;
