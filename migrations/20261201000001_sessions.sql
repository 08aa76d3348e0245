-- Browser sessions (mcpulse's own tower-sessions store, replacing the `tower_sessions` schema): an ended session
-- (signed out, or rotated at sign-in) keeps its row for a short grace period so requests already under way with its
-- cookie are neither refused nor allowed to bring it back; expiry is compared with the database's now().
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        JSONB NOT NULL,
    expiry_date TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);
DROP SCHEMA IF EXISTS tower_sessions CASCADE;
