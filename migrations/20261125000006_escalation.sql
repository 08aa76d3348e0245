-- Escalation: a contact point with `escalate_after_ms` is a later step. It receives a firing alert only once the
-- alert has fired that long without being acknowledged (and then its resolution too); steps without it are
-- notified at once.
ALTER TABLE contact_points ADD COLUMN escalate_after_ms BIGINT CHECK (escalate_after_ms > 0);
