-- Alert rules with the seed's fields (name, description, metric, condition, threshold, duration, severity, enabled,
-- labels) plus a series selector, a reduction over a window, annotations and keep_firing_for.
CREATE TABLE alert_rules (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    metric             TEXT NOT NULL,
    sources            TEXT[] NOT NULL DEFAULT '{}',
    matchers           TEXT[] NOT NULL DEFAULT '{}',
    reduce             TEXT NOT NULL,
    window_ms          BIGINT NOT NULL CHECK (window_ms > 0),
    condition          TEXT NOT NULL CHECK (condition IN ('>', '<', '==', '!=', '>=', '<=')),
    threshold          DOUBLE PRECISION NOT NULL,
    for_ms             BIGINT NOT NULL CHECK (for_ms >= 0),
    keep_firing_for_ms BIGINT NOT NULL CHECK (keep_firing_for_ms >= 0),
    severity           TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    enabled            BOOLEAN NOT NULL DEFAULT true,
    labels             JSONB NOT NULL DEFAULT '{}'::jsonb,
    annotations        JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_by         TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alert_rules_name_key ON alert_rules (lower(name));

-- The state machine of each rule for each series, written after every evaluation that changed it, so a restart
-- (even kill -9) resumes with pending alerts keeping their start and firing alerts their firing time.
CREATE TABLE alert_states (
    rule_id      BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    series_id    BIGINT NOT NULL,
    phase        TEXT NOT NULL CHECK (phase IN ('inactive', 'pending', 'firing', 'resolved')),
    active_since TIMESTAMPTZ,
    firing_since TIMESTAMPTZ,
    resolved_at  TIMESTAMPTZ,
    last_held    TIMESTAMPTZ,
    changes      TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    flapping     BOOLEAN NOT NULL DEFAULT false,
    value        DOUBLE PRECISION,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, series_id)
);

-- History: every transition and notice, in order.
CREATE TABLE alert_events (
    id        BIGSERIAL PRIMARY KEY,
    rule_id   BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    series_id BIGINT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    phase     TEXT NOT NULL,
    notice    TEXT,
    value     DOUBLE PRECISION
);
CREATE INDEX alert_events_rule_at ON alert_events (rule_id, at);
