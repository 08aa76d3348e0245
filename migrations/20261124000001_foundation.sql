-- Users: argon2id password hashes; `session_epoch` is bumped to sign out every session of a user.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    session_epoch BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- One row per time series: a metric of a source with a label set. The latest sample is kept here too, so
-- "current values" never scans samples.
CREATE TABLE series (
    id         BIGSERIAL PRIMARY KEY,
    metric     TEXT NOT NULL,
    source     TEXT NOT NULL,
    labels     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_ts    TIMESTAMPTZ,
    last_value DOUBLE PRECISION,
    UNIQUE (metric, source, labels)
);

-- Samples, partitioned by day (partitions are created by the writer as data arrives and dropped whole by retention).
CREATE TABLE samples (
    series_id BIGINT NOT NULL,
    ts        TIMESTAMPTZ NOT NULL,
    value     DOUBLE PRECISION NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX samples_series_ts ON samples (series_id, ts);
