-- API tokens for machines (push ingest, and later read access and MCP): only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    -- The first characters, to recognise a token in lists without storing it.
    prefix       TEXT NOT NULL,
    scopes       TEXT[] NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
