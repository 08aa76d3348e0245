-- Hot samples that arrive several at a time for one series (a bulk push, a backfill, a batch of points per series)
-- are stored as one row per series, hour and batch: `ts`/`value` hold the block's first sample and `block_ts` /
-- `block_values` every sample of the block in time order (at most 100, so a row stays below the TOAST threshold).
-- A single sample stays a plain row with both arrays NULL. A block row costs ~17 bytes a sample instead of ~80
-- for a row with its index entry, and one tuple to write instead of a hundred. A block never crosses an hour, so
-- its `ts` decides its partition like a row's.
ALTER TABLE samples ADD COLUMN block_ts TIMESTAMPTZ[], ADD COLUMN block_values DOUBLE PRECISION[];

-- Every sample in [lo, hi), rows and blocks alike: the one way SQL reads the hot tier. Inlined by the planner,
-- so a caller's `series_id` condition and the partition bounds reach the scan (a block holding a sample at or
-- after `lo` starts less than an hour before it).
CREATE FUNCTION samples_in(lo TIMESTAMPTZ, hi TIMESTAMPTZ)
RETURNS TABLE (series_id BIGINT, ts TIMESTAMPTZ, value DOUBLE PRECISION)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.series_id, s.ts, s.value FROM samples s
     WHERE s.block_ts IS NULL AND s.ts >= lo AND s.ts < hi
    UNION ALL
    SELECT s.series_id, b.ts, b.value
      FROM samples s CROSS JOIN LATERAL unnest(s.block_ts, s.block_values) AS b(ts, value)
     WHERE s.block_ts IS NOT NULL AND s.ts > lo - interval '1 hour' AND s.ts < hi AND b.ts >= lo AND b.ts < hi
$$;


-- Every batch updates its series' latest value: with room left on each page the new row version can stay on its
-- page (a HOT update, no new entry in the series' unique index on metric, source and labels).
ALTER TABLE series SET (fillfactor = 50);
