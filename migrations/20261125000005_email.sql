-- Email contact points: `settings.url` is `smtp://user:password@host:port?from=…&to=…&tls=starttls|tls|none`.
ALTER TABLE contact_points DROP CONSTRAINT contact_points_kind_check;
ALTER TABLE contact_points ADD CONSTRAINT contact_points_kind_check
    CHECK (kind IN ('console', 'webhook', 'slack', 'logstash', 'email'));
