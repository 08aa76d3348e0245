-- Tool lists of probed MCP servers: one row per distinct version (a hash of the tools' names, descriptions and
-- schemas) of each source, recorded the first round it is seen. The newest row is a server's current tool list;
-- consecutive rows are its schema-change history.
CREATE TABLE mcp_tool_schemas (
    source     TEXT NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    hash       BIGINT NOT NULL,
    tools      JSONB NOT NULL,
    PRIMARY KEY (source, seen_at)
);

-- The role an API token acts with on /mcp (at most its creator's, checked again on every use).
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'viewer' CHECK (role IN ('viewer', 'editor', 'admin'));

-- Probe options of runtime sources (`args`, `env`, `headers`, `calls` of an `mcp` source), as a JSON object.
ALTER TABLE sources ADD COLUMN options JSONB NOT NULL DEFAULT '{}'::jsonb;
