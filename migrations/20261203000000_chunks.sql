-- The compacted tier: one row per series and closed hour of samples, the hour's timestamps and values encoded by
-- the chunk codec (`server/src/store/chunk/codec.rs`: pco, lossless) with the hour's aggregates beside them, so
-- coarse reads need not decode. Partitioned by day of `start_ts`, so retention drops whole partitions. The bytes
-- are already compressed: stored out of line without a second (pglz) attempt.
CREATE TABLE sample_chunks (
    series_id   BIGINT NOT NULL,
    start_ts    TIMESTAMPTZ NOT NULL,
    end_ts      TIMESTAMPTZ NOT NULL,
    count       INTEGER NOT NULL,
    min         DOUBLE PRECISION NOT NULL,
    max         DOUBLE PRECISION NOT NULL,
    sum         DOUBLE PRECISION NOT NULL,
    first_ts    TIMESTAMPTZ NOT NULL,
    first_value DOUBLE PRECISION NOT NULL,
    last_ts     TIMESTAMPTZ NOT NULL,
    last_value  DOUBLE PRECISION NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (series_id, start_ts)
) PARTITION BY RANGE (start_ts);
ALTER TABLE sample_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- How far compaction has come: every sample before `watermark` is in `sample_chunks`, none in `samples`.
CREATE TABLE compaction_state (
    id        BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    watermark TIMESTAMPTZ
);
INSERT INTO compaction_state (id, watermark) VALUES (true, NULL);
