-- Rollup tiers: per series, one row per minute and one per hour with min, max, sum, count and the last value (and its
-- time). Maintained by the rollup job from `rollup_pending`; partitioned like `samples` (minutes by day, hours by
-- month) so retention drops whole partitions.
CREATE TABLE rollup_1m (
    series_id BIGINT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    count     BIGINT NOT NULL,
    last      DOUBLE PRECISION NOT NULL,
    last_ts   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (series_id, bucket)
) PARTITION BY RANGE (bucket);

CREATE TABLE rollup_1h (
    series_id BIGINT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    count     BIGINT NOT NULL,
    last      DOUBLE PRECISION NOT NULL,
    last_ts   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (series_id, bucket)
) PARTITION BY RANGE (bucket);

-- Time ranges written since the rollup job last ran: one row per committed batch, written in the batch's own
-- transaction, so a crash never leaves stored samples out of the rollups. Queries read raw samples from the
-- earliest pending time on.
CREATE TABLE rollup_pending (
    id      BIGSERIAL PRIMARY KEY,
    from_ts TIMESTAMPTZ NOT NULL,
    to_ts   TIMESTAMPTZ NOT NULL
);
INSERT INTO rollup_pending (from_ts, to_ts) SELECT min(ts), max(ts) FROM samples HAVING count(*) > 0;

-- The rollup job reads recent time ranges across all series; a BRIN index keeps that cheap on append-mostly data.
CREATE INDEX samples_ts_brin ON samples USING brin (ts);
