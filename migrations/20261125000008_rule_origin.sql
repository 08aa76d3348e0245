-- Rules declared in mcpulse.toml are kept in step with the file (at start and on SIGHUP) and are read-only in the
-- UI and API.
ALTER TABLE alert_rules ADD COLUMN origin TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'config'));
