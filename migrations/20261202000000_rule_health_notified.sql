-- Which rule-level problem (`nodata` or `error`: the rule's query failed, or none of its series has data) has been
-- notified, so it is said once and its end is said too.
ALTER TABLE alert_rules
    ADD COLUMN health_notified TEXT CHECK (health_notified IN ('nodata', 'error'));
