-- Grouping: notices for one contact point that share a group key (the values of `alerts.group_by`) are sent
-- together, no earlier than `not_before` (group wait after the first, group interval after the last send).
ALTER TABLE outbox
    ADD COLUMN group_key  TEXT,
    ADD COLUMN not_before TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX outbox_group ON outbox (contact_point_id, group_key) WHERE group_key IS NOT NULL;
