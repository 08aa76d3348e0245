-- What an active alert does while its series has no data (`keep`: stays as it was), and each rule's and alert's
-- health at the latest evaluation: `nodata` (no sample within the lookback) and `error` (the query failed) are
-- shown and notified, never taken for "resolved".
ALTER TABLE alert_rules
    ADD COLUMN no_data           TEXT NOT NULL DEFAULT 'keep' CHECK (no_data IN ('keep', 'alerting', 'ok')),
    ADD COLUMN eval_health       TEXT NOT NULL DEFAULT 'unknown' CHECK (eval_health IN ('unknown', 'ok', 'nodata', 'error')),
    ADD COLUMN eval_health_since TIMESTAMPTZ,
    ADD COLUMN eval_error        TEXT,
    ADD COLUMN evaluated_at      TIMESTAMPTZ;

ALTER TABLE alert_states
    ADD COLUMN health       TEXT NOT NULL DEFAULT 'ok' CHECK (health IN ('ok', 'nodata', 'error')),
    ADD COLUMN health_since TIMESTAMPTZ;
