-- Reports: templates (what to report, when, in which formats, to whom), generated reports with their status, and
-- the files of the reports that succeeded.

CREATE TABLE report_templates (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Any of html, json, csv (at least one).
    formats     TEXT[] NOT NULL,
    -- A cron expression, or '' for on-demand only; evaluated in `timezone`.
    schedule    TEXT NOT NULL DEFAULT '',
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    -- A duration ending at the run (`24h`, `7d`) or `since_last`.
    period      TEXT NOT NULL,
    recipients  TEXT[] NOT NULL DEFAULT '{}',
    -- Ordered sections, as the API writes them (`[{"kind": "metrics_summary", ...}, ...]`).
    sections    JSONB NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT true,
    -- When the scheduler runs it next (NULL: not scheduled). Claimed and advanced in one transaction.
    next_run_at TIMESTAMPTZ,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX report_templates_name ON report_templates (lower(name));
CREATE INDEX report_templates_due ON report_templates (next_run_at) WHERE enabled AND next_run_at IS NOT NULL;

CREATE TABLE reports (
    id            BIGSERIAL PRIMARY KEY,
    -- A deleted template's reports stay (until retention), named by `template_name`.
    template_id   BIGINT REFERENCES report_templates (id) ON DELETE SET NULL,
    template_name TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    error         TEXT,
    -- schedule, manual (UI or API) or cli.
    trigger       TEXT NOT NULL,
    requested_by  TEXT,
    -- The scheduled time this run is for; one run per due time, whichever process claims it.
    due_at        TIMESTAMPTZ,
    period_start  TIMESTAMPTZ NOT NULL,
    period_end    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    -- What became of the email (NULL: no recipients).
    email_status  TEXT,
    UNIQUE (template_id, due_at)
);
CREATE INDEX reports_started ON reports (started_at DESC);
CREATE INDEX reports_template ON reports (template_id, started_at DESC);

-- Written in the transaction that marks the report succeeded: a failed or unfinished run has no files.
CREATE TABLE report_files (
    report_id    BIGINT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    format       TEXT NOT NULL CHECK (format IN ('html', 'json', 'csv')),
    content      BYTEA NOT NULL,
    PRIMARY KEY (report_id, format)
);

-- Who acknowledged an alert, in its history (reports list acknowledgements).
ALTER TABLE alert_events ADD COLUMN actor TEXT;
