-- Hour chunks of whole days far enough behind the watermark that no late sample can reach them are merged into one
-- chunk per series and day (fewer rows, ~0.3 bytes a sample less). Every day before `days_merged` is merged.
ALTER TABLE compaction_state ADD COLUMN days_merged TIMESTAMPTZ;
