-- Sources created by admins at runtime (server functions, /api/sources). Sources declared in mcpulse.toml are not
-- stored: the file stays their only home. Durations in milliseconds; `labels` is a flat JSON object of strings.
CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    interval_ms BIGINT NOT NULL CHECK (interval_ms > 0),
    timeout_ms  BIGINT NOT NULL CHECK (timeout_ms > 0 AND timeout_ms <= interval_ms),
    labels      JSONB NOT NULL DEFAULT '{}'::jsonb,
    enabled     BOOLEAN NOT NULL DEFAULT true,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
