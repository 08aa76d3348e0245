-- Routing by labels: a contact point with matchers receives only alerts whose labels match all of them.
ALTER TABLE contact_points ADD COLUMN matchers TEXT[] NOT NULL DEFAULT '{}';
