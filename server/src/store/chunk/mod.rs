//! The compacted tier: closed hours of raw samples re-written as one chunk per series and hour (`sample_chunks`,
//! encoded by [`codec`]), with the hour's count, min, max, sum, first and last beside the bytes.
//!
//! Data in: rows of `samples` (plain and block rows) older than the hot window, moved by [`Store::compact`] — per
//! hour, in one transaction that takes the hour's rows (`DELETE … RETURNING`, series by series), writes their chunks, checks that the chunks
//! hold as many samples with the same sum as before plus the rows, and advances the watermark (`compaction_state`).
//! A crash anywhere leaves either the rows or the chunks, never both and never neither. Late rows — written below
//! the watermark, within `storage.out_of_order_window` — stay rows (read like any other) until the next run merges
//! them into their hour's chunks the same way; an hour's partition of `samples`, once no sample may be written to
//! it and no running snapshot can still read its rows, is dropped. A whole day beyond the out-of-order window is
//! merged into one chunk per series and day in a table apart, which then replaces the day's partition
//! ([`Store::merge_days`]). Data out: [`points`], every sample of some series in a time range, from the chunks and
//! the rows, read in one snapshot.

pub mod codec;

use super::{lock, Store, CHUNKS, ROLLUP_1M, SAMPLES};
use anyhow::Context;
use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};
use codec::Summary;
use std::collections::BTreeMap;

/// One advisory lock for compaction across processes sharing the database.
pub(crate) const COMPACTION_LOCK: i64 = 7_415_004;
/// Series whose samples one read (`points`) brings into memory at once, for callers that read many series, over
/// a day or less (see [`series_per_read`]).
pub const SERIES_PER_READ: usize = 256;

/// Series per read over `[from, to)`: [`SERIES_PER_READ`] for a day or less, fewer for longer ranges (at least 16),
/// so a read holds about as many samples whatever its range (a day of 256 series at 10 s: 2.2 M, 35 MB).
pub fn series_per_read(from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    let days = (to - from).num_seconds().max(1) as f64 / 86_400.0;
    ((SERIES_PER_READ as f64 / days.max(1.0)) as usize).clamp(16, SERIES_PER_READ)
}
/// Series whose rows one pass of an hour holds in memory at once.
const SERIES_PER_PASS: i64 = 2_000;
/// Closed hours of the current day that wait for a merge into its day chunks: fewer merges rewrite the day's
/// chunks less often (the day's partition is rewritten at each), more leave more hour chunks meanwhile (~0.4 bytes
/// a sample of row and index beside their ~1 byte of data).
pub const MERGE_HOURS: i64 = 4;

/// A row of `samples` as taken by compaction: series, time, value, and a block's times and values.
type Taken = (
    i64,
    DateTime<Utc>,
    f64,
    Option<Vec<DateTime<Utc>>>,
    Option<Vec<f64>>,
);

/// What [`Store::compact`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub hours: usize,
    pub chunks: usize,
    pub samples: usize,
    /// Days whose hour chunks were merged into day chunks.
    pub days: usize,
    /// Merges of the current day's first hours (before the day ends) into its chunks.
    pub day_parts: usize,
    /// Emptied partitions of `samples` dropped.
    pub partitions: usize,
    /// Partitions of `rollup_1m` dropped (their hours are answered from the chunks).
    pub minute_partitions: usize,
}

impl Compacted {
    fn add(&mut self, other: Compacted) {
        self.hours += other.hours;
        self.chunks += other.chunks;
        self.samples += other.samples;
        self.days += other.days;
        self.day_parts += other.day_parts;
        self.partitions += other.partitions;
        self.minute_partitions += other.minute_partitions;
    }
}

/// A stored chunk that cannot be decoded: which series and period, and why.
#[derive(Debug, Clone)]
pub struct Damaged {
    pub series: i64,
    pub start: DateTime<Utc>,
    pub error: codec::ChunkError,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the samples of series {} from {} cannot be read: {}",
            self.series, self.start, self.error
        )
    }
}

impl std::error::Error for Damaged {}

/// A read's error as the caller sees it: a damaged chunk named (series and period), anything else internal.
pub fn read_error(e: anyhow::Error) -> app::error::AppError {
    match e.downcast_ref::<Damaged>() {
        Some(damaged) => app::error::AppError::Damaged(damaged.to_string()),
        None => app::error::AppError::internal(e),
    }
}

/// One series' samples, sorted by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
}

impl Points {
    /// Adds `more` (sorted by time) to these samples, keeping time order: appended when it all follows them (the
    /// usual case), merged otherwise (`self`'s first at equal times).
    fn append_sorted(&mut self, more: Points) {
        if self
            .ts
            .last()
            .is_none_or(|t| more.ts.first().is_none_or(|m| m >= t))
        {
            self.ts.extend(more.ts);
            self.values.extend(more.values);
        } else {
            *self = merge_sorted(std::mem::take(self), more);
        }
    }

    /// The samples as instants and values, in time order.
    pub fn timed(self) -> Vec<(DateTime<Utc>, f64)> {
        let at = |t: &i64| DateTime::from_timestamp_millis(*t).unwrap_or_default();
        self.ts.iter().map(at).zip(self.values).collect()
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Sorts the samples by time (stable: equal times keep their order); a no-op when they already are.
    fn sort_by_time(&mut self) {
        if self.ts.is_sorted() {
            return;
        }
        let mut order: Vec<usize> = (0..self.ts.len()).collect();
        order.sort_by_key(|&k| self.ts[k]);
        self.ts = order.iter().map(|&k| self.ts[k]).collect();
        self.values = order.iter().map(|&k| self.values[k]).collect();
    }
}

impl Store {
    /// See [`watermark`].
    pub async fn compaction_watermark(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        watermark(&self.pool).await
    }

    /// Compacts every closed hour that ends at least `hot` before `now` and whose samples are all in the rollup
    /// tiers, oldest first; first merges late rows (below the watermark) into their hours' chunks.
    pub async fn compact(
        &self,
        now: DateTime<Utc>,
        hot: std::time::Duration,
    ) -> anyhow::Result<Compacted> {
        let hour = TimeDelta::hours(1);
        let until = (now - chrono::Duration::from_std(hot)?).duration_trunc(hour)?;
        let mut done = Compacted::default();
        // The hours about to be written get their partitions here, so a write seldom waits to create one.
        self.ensure_partitions(SAMPLES, [now, now + hour].map(|t| t.naive_utc()).into())
            .await?;
        let mut watermark = self.compaction_watermark().await?;
        if let Some(w) = watermark {
            self.advanced_watermark(w);
            let late: Vec<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT DISTINCT date_bin('1 hour', ts, 'epoch'::timestamptz) FROM samples WHERE ts < $1 ORDER BY 1",
            )
            .bind(w)
            .fetch_all(&self.pool)
            .await
            .context("finding late rows")?;
            for from in late {
                // The rollup job reads a late hour's rows beside its chunks: it folds them first.
                if self.unfolded(from, from + hour).await? {
                    continue;
                }
                // An hour compacted while empty has no partition yet.
                self.ensure_partitions(CHUNKS, [from.naive_utc()].into())
                    .await?;
                done.add(
                    self.compact_hour(from, from + hour)
                        .await
                        .with_context(|| {
                            format!("merging late samples into the hour from {from}")
                        })?,
                );
            }
        }
        let start = match watermark {
            Some(w) => Some(w),
            None => self.oldest("SELECT min(ts) FROM samples", hour).await?,
        };
        let Some(mut from) = start else {
            return Ok(done);
        };
        while from + hour <= until {
            let to = from + hour;
            // The rollup job folds from raw rows: an hour it has not folded yet stays raw.
            if self.unfolded(from, to).await? {
                break;
            }
            self.ensure_partitions(CHUNKS, [from.naive_utc()].into())
                .await?;
            done.add(
                self.compact_hour(from, to)
                    .await
                    .with_context(|| format!("compacting the hour from {from}"))?,
            );
            self.advanced_watermark(to);
            watermark = Some(to);
            from = to;
        }
        done.partitions = self.drop_emptied().await?;
        if !self.minutes_outlive_samples() {
            done.minute_partitions = self.drop_compacted_minutes().await?;
        }
        if done.samples > 0 {
            // The moved rows are dead tuples the hot reads would otherwise wade through until autovacuum comes.
            sqlx::query("VACUUM (ANALYZE) samples")
                .execute(&self.pool)
                .await
                .context("vacuuming the compacted rows")?;
        }
        // Hours beyond the reach of late samples: their hour chunks join their day's chunk of each series.
        if let Some(w) = watermark {
            let window = chrono::Duration::from_std(self.out_of_order)?;
            done.add(
                self.merge_days((w - window).duration_trunc(TimeDelta::hours(1))?)
                    .await?,
            );
        }
        Ok(done)
    }

    /// Merges the chunks before `until` into one chunk per series and day, a day per transaction, oldest first
    /// (count and sum checked as for hours): whole days, and the day `until` falls in once [`MERGE_HOURS`] of its
    /// hours wait (its chunk covers the day up to there; the next merge takes it with the hours after it). Every
    /// chunk before `compaction_state.days_merged` is merged.
    pub async fn merge_days(&self, until: DateTime<Utc>) -> anyhow::Result<Compacted> {
        let day = TimeDelta::days(1);
        let mut done = Compacted::default();
        let merged: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT days_merged FROM compaction_state")
                .fetch_one(&self.pool)
                .await?;
        let start = match merged {
            Some(d) => Some(d),
            None => {
                self.oldest(
                    "SELECT min(start_ts) FROM sample_chunks",
                    TimeDelta::hours(1),
                )
                .await?
            }
        };
        let Some(mut from) = start else {
            return Ok(done);
        };
        loop {
            let day_start = from.duration_trunc(day)?;
            let cut = until.min(day_start + day);
            let whole = cut == day_start + day;
            if cut <= from || (!whole && cut - from < TimeDelta::hours(MERGE_HOURS)) {
                break;
            }
            let (merged, finished) = self.merge_day(day_start, cut).await.with_context(|| {
                format!("merging the chunks of the day from {day_start} until {cut}")
            })?;
            done.add(merged);
            // Days are merged in order: one waiting for its swap holds back the later ones.
            if !finished || !whole {
                break;
            }
            from = cut;
        }
        Ok(done)
    }

    /// Merges the chunks of the day from `from` that start before `to` into one chunk per series (covering
    /// `[from, to)`), in a table of its own that then takes the place of the day's partition (with the chunks
    /// from `to` on copied as they are), so the hour chunks leave no dead space behind (deleted in place, they
    /// would stay in the partition as dead tuples, twice the size of what is left, until retention). Two steps:
    /// 1. one transaction builds `<partition>_merged` (decoding each series' chunks before `to` and encoding them
    ///    as one) and checks its count and sum against the partition's; the partition is read meanwhile as before;
    /// 2. once no transaction that began before that commit is still running (its snapshot could not see the new
    ///    table's rows), one transaction holding `sample_chunks` for a moment (100 ms at most, else a later run)
    ///    checks the totals again, detaches and drops the partition, and attaches the merged table in its place.
    ///
    /// A crash between the steps leaves an unattached table the next run builds again. Returns what was done and
    /// whether the day is finished (`false`: its swap waits for a later run).
    async fn merge_day(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<(Compacted, bool)> {
        let day_end = from + TimeDelta::days(1);
        let day = from.naive_utc();
        let partition = CHUNKS.name(day);
        let merged = format!("{partition}_merged");
        // A table built up to another time (a later run found more hours to merge) is built again.
        let built = lock(&self.merged_days)
            .get(&day)
            .copied()
            .filter(|(until, _)| *until == to);
        let built_at = match built {
            Some((_, at)) => at,
            None => match self.build_merged_day(from, to, &partition, &merged).await? {
                Some(at) => {
                    lock(&self.merged_days).insert(day, (to, at));
                    at
                }
                // Nothing to merge (no chunks that day), or another process merged it.
                None => return Ok((Compacted::default(), true)),
            },
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .execute(&mut *tx)
            .await?;
        if !lock_briefly(&mut tx, CHUNKS.table).await? {
            tracing::debug!("sample_chunks busy; a merged day takes its place in a later run");
            return Ok((Compacted::default(), false));
        }
        let older: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                            AND backend_type = 'client backend' AND pid <> pg_backend_pid()
                            AND xact_start < $1)",
        )
        .bind(built_at)
        .fetch_one(&mut *tx)
        .await?;
        if older {
            tracing::debug!(day = %from, "a transaction older than the merged day runs; it is swapped in later");
            return Ok((Compacted::default(), false));
        }
        let present = has_partition(&mut tx, &partition).await?;
        let (before, before_sum, before_rows) = if present {
            chunk_totals(&mut tx, &partition).await?
        } else {
            (0, 0.0, 0)
        };
        let (after, after_sum, after_rows) = chunk_totals(&mut tx, &merged).await?;
        if !present || before != after || !same_sum(before_sum, after_sum) {
            // Retention dropped the day, or its chunks changed since the merge (a late hour compacted after a
            // change of the out-of-order window): built again by the next run.
            tracing::info!(day = %from, present, before, after, "the merged day no longer matches its partition; built again");
            sqlx::query(&format!("DROP TABLE IF EXISTS {merged}"))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            lock(&self.merged_days).remove(&day);
            return Ok((Compacted::default(), false));
        }
        for sql in [
            format!("ALTER TABLE sample_chunks DETACH PARTITION {partition}"),
            format!("DROP TABLE {partition}"),
            format!("ALTER TABLE {merged} RENAME TO {partition}"),
            format!("ALTER INDEX {merged}_pkey RENAME TO {partition}_pkey"),
            format!(
                "ALTER TABLE sample_chunks ATTACH PARTITION {partition} FOR VALUES FROM ('{}') TO ('{}')",
                from.to_rfc3339(),
                day_end.to_rfc3339()
            ),
            format!("ALTER TABLE {partition} DROP CONSTRAINT merged_day_range"),
        ] {
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("swapping in the merged day: {sql}"))?;
        }
        mark_merged(&mut tx, to).await?;
        tx.commit().await?;
        self.advanced_merge(to);
        lock(&self.merged_days).remove(&day);
        tracing::debug!(day = %from, until = %to, chunks_before = before_rows, chunks = after_rows, "merged a day's chunks");
        Ok((
            Compacted {
                days: usize::from(to == day_end),
                day_parts: usize::from(to < day_end),
                ..Compacted::default()
            },
            true,
        ))
    }

    /// Step 1 of [`Store::merge_day`]: the day's chunks before `to` merged into `merged`, a table apart shaped like
    /// the partition (its day as a constraint, so attaching it needs no scan), and its later chunks copied. Returns
    /// the database time after the commit, or `None` when the day has no partition or is merged already.
    async fn build_merged_day(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        partition: &str,
        merged: &str,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .execute(&mut *tx)
            .await?;
        let days_merged: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT days_merged FROM compaction_state")
                .fetch_one(&mut *tx)
                .await?;
        if days_merged.is_some_and(|m| m >= to) {
            return Ok(None);
        }
        let present = has_partition(&mut tx, &partition).await?;
        if !present {
            // An empty day: nothing to swap.
            mark_merged(&mut tx, to).await?;
            tx.commit().await?;
            return Ok(None);
        }
        for sql in [
            format!("DROP TABLE IF EXISTS {merged}"),
            format!(
                "CREATE TABLE {merged} (LIKE sample_chunks INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
                 INCLUDING STORAGE, PRIMARY KEY (series_id, start_ts), CONSTRAINT merged_day_range \
                 CHECK (start_ts >= '{}' AND start_ts < '{}'))",
                from.to_rfc3339(),
                (from + TimeDelta::days(1)).to_rfc3339()
            ),
        ] {
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        let (mut after, mut chunks) = (i64::MIN, 0usize);
        loop {
            // A pass over the next series, by id, so memory stays bounded however many series the day has.
            let mut taken: Vec<(i64, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(&format!(
                "SELECT series_id, start_ts, data FROM {partition}
                 WHERE start_ts < $3 AND series_id > $1 AND series_id < (SELECT coalesce(max(id), $1) + 1 FROM (
                         SELECT DISTINCT series_id AS id FROM {partition} WHERE start_ts < $3 AND series_id > $1
                         ORDER BY 1 LIMIT $2) next)"
            ))
            .bind(after)
            .bind(SERIES_PER_PASS)
            .bind(to)
            .fetch_all(&mut *tx)
            .await
            .context("reading the day's chunks")?;
            if taken.is_empty() {
                break;
            }
            taken.sort_by_key(|(id, start, _)| (*id, *start));
            after = taken[taken.len() - 1].0;
            let mut by_series: BTreeMap<i64, Points> = BTreeMap::new();
            for (id, start, bytes) in taken {
                // Chunks of one series never overlap in time; merged in order all the same.
                let chunk = decode_chunk(id, start, &bytes)?;
                by_series.entry(id).or_default().append_sorted(chunk);
            }
            chunks += write_chunks(&mut tx, merged, from, to, by_series).await?;
        }
        // The hours after `to` (not yet beyond the reach of late samples) keep their chunks.
        let columns =
            "series_id, start_ts, end_ts, count, min, max, sum, first_ts, first_value, last_ts, \
                       last_value, data";
        sqlx::query(&format!(
            "INSERT INTO {merged} ({columns}) SELECT {columns} FROM {partition} WHERE start_ts >= $1"
        ))
        .bind(to)
        .execute(&mut *tx)
        .await
        .context("copying the day's later chunks")?;
        let (before, before_sum, _) = chunk_totals(&mut tx, partition).await?;
        let (stored, stored_sum, _) = chunk_totals(&mut tx, merged).await?;
        anyhow::ensure!(
            stored == before,
            "the day's merged chunks hold {stored} samples, its chunks held {before}"
        );
        anyhow::ensure!(
            same_sum(stored_sum, before_sum),
            "the day's merged chunks sum to {stored_sum}, its chunks summed to {before_sum}"
        );
        tx.commit().await?;
        tracing::debug!(day = %from, until = %to, chunks, "built a merged day");
        let at: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(at))
    }

    /// The time `sql` selects (the oldest of something), truncated to `unit` (`None`: there is nothing).
    async fn oldest(&self, sql: &str, unit: TimeDelta) -> anyhow::Result<Option<DateTime<Utc>>> {
        let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        Ok(oldest.map(|t| t.duration_trunc(unit)).transpose()?)
    }

    /// Whether the rollup job still has to fold some of `[from, to)`.
    async fn unfolded(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM rollup_pending WHERE from_ts < $2 AND to_ts >= $1)",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Moves the rows of `[from, to)` into the hour's chunks, in one transaction: an hour above the watermark gets
    /// its chunks and the watermark passes it; an hour below it (late rows) has them merged into its chunks.
    /// Rows are taken by `DELETE … RETURNING`, so exactly the rows deleted are encoded, and a row committed
    /// meanwhile stays a (late) row for the next run.
    async fn compact_hour(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Compacted> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .execute(&mut *tx)
            .await?;
        let watermark: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT watermark FROM compaction_state FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        // Below the watermark (also when another process compacted the hour meanwhile): merge.
        let below = watermark.is_some_and(|w| w >= to);
        let (before, before_sum): (i64, Option<f64>) = sqlx::query_as(
            "SELECT coalesce(sum(count), 0)::int8, sum(sum) FROM sample_chunks WHERE start_ts = $1",
        )
        .bind(from)
        .fetch_one(&mut *tx)
        .await?;
        let (mut chunks, mut samples, mut sum) = (0usize, 0usize, before_sum.unwrap_or(0.0));
        let mut after: i64 = i64::MIN;
        loop {
            // A pass over the next series, by id, so memory stays bounded however many series the hour has.
            // Block rows never cross an hour: a row's `ts` places all its samples.
            let taken: Vec<Taken> = sqlx::query_as(
                "DELETE FROM samples
                 WHERE ts >= $1 AND ts < $2 AND series_id > $3
                   AND series_id < (SELECT coalesce(max(id), $3) + 1 FROM (
                         SELECT DISTINCT series_id AS id FROM samples
                         WHERE ts >= $1 AND ts < $2 AND series_id > $3 ORDER BY 1 LIMIT $4) next)
                 RETURNING series_id, ts, value, block_ts, block_values",
            )
            .bind(from)
            .bind(to)
            .bind(after)
            .bind(SERIES_PER_PASS)
            .fetch_all(&mut *tx)
            .await
            .context("taking the hour's rows")?;
            if taken.is_empty() {
                break;
            }
            let mut rows: Vec<(i64, i64, f64)> = Vec::with_capacity(taken.len());
            for (id, t, v, block_ts, block_values) in taken {
                match (block_ts, block_values) {
                    (Some(ts), Some(values)) if ts.len() == values.len() => rows.extend(
                        ts.into_iter()
                            .zip(values)
                            .map(|(t, v)| (id, t.timestamp_millis(), v)),
                    ),
                    (None, None) => rows.push((id, t.timestamp_millis(), v)),
                    _ => anyhow::bail!(
                        "a block row of series {id} at {t} has unequal or missing arrays"
                    ),
                }
            }
            rows.sort_by_key(|(id, t, _)| (*id, *t));
            after = rows[rows.len() - 1].0;
            samples += rows.len();
            let mut by_series: BTreeMap<i64, Points> = BTreeMap::new();
            for (id, t, v) in rows {
                sum += v;
                let p = by_series.entry(id).or_default();
                p.ts.push(t);
                p.values.push(v);
            }
            if before > 0 {
                // Merged with the chunks the hour already has, in time order (rows after equal timestamps).
                let ids: Vec<i64> = by_series.keys().copied().collect();
                let stored: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT series_id, data FROM sample_chunks WHERE start_ts = $1 AND series_id = ANY($2)",
                )
                .bind(from)
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
                for (id, bytes) in stored {
                    let chunk = decode_chunk(id, from, &bytes)?;
                    let p = by_series.get_mut(&id).expect("asked for these ids");
                    *p = merge_sorted(chunk, std::mem::take(p));
                }
            }
            chunks += write_chunks(&mut tx, "sample_chunks", from, to, by_series).await?;
        }
        // The hour's chunks hold what they held plus exactly the rows deleted.
        let (stored, stored_sum): (i64, Option<f64>) = sqlx::query_as(
            "SELECT coalesce(sum(count), 0)::int8, sum(sum) FROM sample_chunks WHERE start_ts = $1",
        )
        .bind(from)
        .fetch_one(&mut *tx)
        .await?;
        let expected = before as usize + samples;
        anyhow::ensure!(
            stored as usize == expected,
            "the hour's chunks hold {stored} samples where {expected} were expected"
        );
        let stored_sum = stored_sum.unwrap_or(0.0);
        anyhow::ensure!(
            same_sum(stored_sum, sum),
            "the hour's chunks sum to {stored_sum}, their samples to {sum}"
        );
        if !below {
            sqlx::query("UPDATE compaction_state SET watermark = $1")
                .bind(to)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if samples > 0 {
            // Until the time after the commit is known, the drop measures its own (see `drop_emptied`).
            lock(&self.emptied).insert(from.naive_utc(), None);
            let taken_at: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
                .fetch_one(&self.pool)
                .await?;
            lock(&self.emptied).insert(from.naive_utc(), Some(taken_at));
        }
        Ok(Compacted {
            hours: usize::from(samples > 0),
            chunks,
            samples,
            ..Compacted::default()
        })
    }

    /// Drops the partitions of `samples` that no sample may be written to any more (they end before the
    /// out-of-order window behind the watermark) and that compaction emptied, each once no transaction that began
    /// before its rows were taken is still running: such a transaction's snapshot would still look for the rows
    /// there (and not see their chunks). One transaction for all, holding `samples` for a moment; when it is busy
    /// (100 ms), the next run drops them.
    async fn drop_emptied(&self) -> anyhow::Result<usize> {
        let Some(oldest) = self.oldest_accepted().await? else {
            return Ok(0);
        };
        let oldest = oldest.naive_utc();
        let candidates: Vec<(String, NaiveDateTime, NaiveDateTime)> = self
            .partitions_of(SAMPLES)
            .await?
            .into_iter()
            .filter(|(_, _, end)| *end <= oldest)
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        // Rows this process did not take were taken before it started (or never written).
        let first = *lock(&self.first_reclaim);
        let started: DateTime<Utc> = match first {
            Some(t) => t,
            None => {
                let t = sqlx::query_scalar("SELECT clock_timestamp()")
                    .fetch_one(&self.pool)
                    .await?;
                *lock(&self.first_reclaim) = Some(t);
                t
            }
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .execute(&mut *tx)
            .await?;
        if !lock_briefly(&mut tx, "samples").await? {
            tracing::debug!("samples busy; emptied partitions are dropped by a later run");
            return Ok(0);
        }
        // Retention (another task) may have dropped some meanwhile: only those still there, seen under the lock.
        let present: Vec<String> = super::partitions_in(&mut *tx, SAMPLES)
            .await?
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&mut *tx)
            .await?;
        let mut dropped = Vec::new();
        for (name, start, end) in candidates {
            if !present.contains(&name) {
                continue;
            }
            // A taking whose commit time is unknown counts as now.
            let taken_at = lock(&self.emptied)
                .range(start..end)
                .map(|(_, t)| t.unwrap_or(now))
                .max()
                .unwrap_or(started);
            let keep: bool = sqlx::query_scalar(&format!(
                "SELECT EXISTS (SELECT 1 FROM {name})
                     OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                                AND pid <> pg_backend_pid() AND xact_start < $1)"
            ))
            .bind(taken_at)
            .fetch_one(&mut *tx)
            .await?;
            if !keep {
                sqlx::query(&format!("DROP TABLE {name}"))
                    .execute(&mut *tx)
                    .await?;
                dropped.push((name, start, end));
            }
        }
        tx.commit().await?;
        for (name, start, end) in &dropped {
            self.forget_partition(SAMPLES, *start);
            let mut emptied = lock(&self.emptied);
            let hours: Vec<NaiveDateTime> = emptied.range(*start..*end).map(|(h, _)| *h).collect();
            for h in hours {
                emptied.remove(&h);
            }
            tracing::debug!(partition = %name, "compaction dropped an emptied partition");
        }
        Ok(dropped.len())
    }

    /// Drops the partitions of `rollup_1m` whose hours the chunks answer for: they end before the out-of-order
    /// window behind the watermark, so no late sample reaches them and the query engine reads minute steps there
    /// from the chunks (`query::tier_rows_from`). One transaction holding `rollup_1m` for a moment; when it is
    /// busy (100 ms), the next run drops them. (Minute rows cost ~20 bytes a sample, the chunks ~1.)
    async fn drop_compacted_minutes(&self) -> anyhow::Result<usize> {
        let Some(oldest) = self.oldest_accepted().await? else {
            return Ok(0);
        };
        let oldest = oldest.naive_utc();
        if !self
            .partitions_of(ROLLUP_1M)
            .await?
            .iter()
            .any(|(_, _, end)| *end <= oldest)
        {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        if !lock_briefly(&mut tx, "rollup_1m").await? {
            tracing::debug!("rollup_1m busy; compacted minutes are dropped by a later run");
            return Ok(0);
        }
        // Listed under the lock: retention may have dropped some meanwhile.
        let mut dropped = Vec::new();
        for (name, start, end) in super::partitions_in(&mut *tx, ROLLUP_1M).await? {
            if end <= oldest {
                sqlx::query(&format!("DROP TABLE {name}"))
                    .execute(&mut *tx)
                    .await?;
                dropped.push((name, start));
            }
        }
        tx.commit().await?;
        for (name, start) in &dropped {
            self.forget_partition(ROLLUP_1M, *start);
            tracing::debug!(partition = %name, "compaction dropped the minute rollups of compacted hours");
        }
        Ok(dropped.len())
    }

    /// Every sample of `series` in `[from, to)` (see [`points`]).
    pub async fn points(
        &self,
        series: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<BTreeMap<i64, Points>> {
        points(&self.pool, series, from, to).await
    }
}

/// Every sample of `series` in `[from, to)`, sorted by time per series: decoded from the chunks, and read from the
/// rows (after the watermark, and late ones below it), in one snapshot (a compaction committing meanwhile is not
/// seen half). The one way raw samples are read.
pub async fn points(
    pool: &sqlx::PgPool,
    series: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<i64, Points>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let out = read(&mut tx, series, from, to).await?;
    tx.commit().await?;
    Ok(out)
}

/// [`points`] within a transaction the caller holds (which must keep compaction from committing between its two
/// statements: a snapshot, or the compaction lock).
pub(crate) async fn read(
    tx: &mut sqlx::PgConnection,
    series: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<i64, Points>> {
    // Both statements as binary COPY, parsed here: decoding rows one by one through the driver took most of a
    // read (600,000 hot rows: 150 ms).
    let ids = series
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let (since, until) = (pg_literal(from), pg_literal(to));
    let reading = std::time::Instant::now();
    let mut chunks: Vec<(i64, DateTime<Utc>, Vec<u8>)> = Vec::new();
    // No chunk starts at or after the watermark (read in the same snapshot): a range after it, the hot hours,
    // skips the chunk statement (planning it over every partition cost more than the rest of a small read).
    let watermark: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT watermark FROM compaction_state")
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
    if let Some(watermark) = watermark.filter(|w| *w > from) {
        let until = pg_literal(to.min(watermark));
        copy_each(
            tx,
            &format!(
                "COPY (SELECT series_id, start_ts, data FROM sample_chunks
                       WHERE series_id = ANY('{{{ids}}}'::int8[]) AND start_ts < {until} AND end_ts > {since}
                       ORDER BY series_id, start_ts) TO STDOUT (FORMAT binary)"
            ),
            |[id, start, data]| {
                let start = DateTime::from_timestamp_millis(pg_millis(start)?).unwrap_or_default();
                chunks.push((int8(id)?, start, data.to_vec()));
                Ok(())
            },
        )
        .await?;
    }
    let chunks_read = reading.elapsed();
    let chunk_count = chunks.len();
    // The chunks decode (on the blocking pool) while PostgreSQL sends the rows.
    let decoded = decode_all(chunks);
    // Unordered: rows come mostly in time order per series already, and sorting here beats PostgreSQL's sort
    // (which spills to disk for a few hundred thousand rows).
    // Block rows come whole (their arrays parsed here, cheaper than unnesting them in PostgreSQL); a block never
    // crosses an hour, so one holding samples at or after `from` starts within `from`'s hour.
    let blocks_from = pg_literal(
        from.duration_trunc(TimeDelta::hours(1))
            .unwrap_or_else(|_| from.checked_sub_signed(TimeDelta::hours(1)).unwrap_or(from)),
    );
    let rows_statement = format!(
        "COPY (SELECT series_id, ts, value, coalesce(block_ts, '{{}}'), coalesce(block_values, '{{}}') FROM samples
               WHERE series_id = ANY('{{{ids}}}'::int8[]) AND ts >= {blocks_from} AND ts < {until}
                 AND (ts >= {since} OR block_ts IS NOT NULL))
         TO STDOUT (FORMAT binary)"
    );
    let (lo, hi) = (from.timestamp_millis(), to.timestamp_millis());
    let read_rows = async {
        let mut rows: Vec<(i64, i64, f64)> = Vec::new();
        copy_each(
            tx,
            &rows_statement,
            |[id, ts, value, block_ts, block_values]| {
                let id = int8(id)?;
                if array_len(block_ts)? == 0 {
                    rows.push((id, pg_millis(ts)?, f64::from_bits(int8(value)? as u64)));
                    return Ok(());
                }
                let (ts, values) = (array_items(block_ts)?, array_items(block_values)?);
                anyhow::ensure!(
                    ts.len() == values.len(),
                    "a block row of series {id} has {} times and {} values",
                    ts.len(),
                    values.len()
                );
                for (t, v) in ts.zip(values) {
                    let t = pg_millis(t?)?;
                    if t >= lo && t < hi {
                        rows.push((id, t, f64::from_bits(int8(v?)? as u64)));
                    }
                }
                Ok(())
            },
        )
        .await?;
        anyhow::Ok((rows, reading.elapsed()))
    };
    let (decoded, rows) = tokio::join!(decoded, read_rows);
    let (decoded, (rows, rows_read)) = (decoded?, rows?);
    let mut out: BTreeMap<i64, Points> = BTreeMap::new();
    let mut overlapping = Vec::new();
    for (id, mut ts, mut values) in decoded {
        // A chunk's samples are in time order: trimmed to the range in place, and a series' first chunk taken
        // as it is (copying every sample of a day's read cost more than decoding it, mostly in fresh pages).
        let (a, b) = (
            ts.partition_point(|t| *t < lo),
            ts.partition_point(|t| *t < hi),
        );
        if a > 0 || b < ts.len() {
            let b = b.max(a);
            ts.truncate(b);
            values.truncate(b);
            ts.drain(..a);
            values.drain(..a);
        }
        let p = out.entry(id).or_default();
        if p.ts.is_empty() {
            (p.ts, p.values) = (ts, values);
        } else {
            // A series' chunks follow each other in time, unless a late hour was compacted inside a merged day
            // (a sample written in flight while the merge passed its hour): then its chunk is sorted in.
            if matches!((ts.first(), p.ts.last()), (Some(a), Some(b)) if a < b) {
                overlapping.push(id);
            }
            p.ts.extend_from_slice(&ts);
            p.values.extend_from_slice(&values);
        }
    }
    for id in overlapping {
        if let Some(p) = out.get_mut(&id) {
            p.sort_by_time();
        }
    }
    let mut late: BTreeMap<i64, Points> = BTreeMap::new();
    for (id, t, v) in rows {
        let p = late.entry(id).or_default();
        p.ts.push(t);
        p.values.push(v);
    }
    for (id, mut rows) in late {
        rows.sort_by_time();
        // Rows usually all follow the chunks; late ones fall among them.
        out.entry(id).or_default().append_sorted(rows);
    }
    tracing::trace!(
        chunks = chunk_count,
        chunks_read = ?chunks_read,
        rows_read = ?rows_read,
        total = ?reading.elapsed(),
        "read chunks and rows (decoding the chunks meanwhile)"
    );
    Ok(out)
}

/// Whether `name` is a partition of `sample_chunks` (as the catalog says within `tx`).
async fn has_partition(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    name: &str,
) -> anyhow::Result<bool> {
    Ok(super::partitions_in(&mut **tx, CHUNKS)
        .await?
        .into_iter()
        .any(|(partition, _, _)| partition == name))
}

/// The samples, their sum and the chunks `table` (a partition of `sample_chunks`, or a merged day) holds.
async fn chunk_totals(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
) -> anyhow::Result<(i64, f64, i64)> {
    let (samples, sum, chunks): (i64, Option<f64>, i64) = sqlx::query_as(&format!(
        "SELECT coalesce(sum(count), 0)::int8, sum(sum), count(*) FROM {table}"
    ))
    .fetch_one(&mut **tx)
    .await?;
    Ok((samples, sum.unwrap_or(0.0), chunks))
}

/// Records that every day before `to` is merged.
async fn mark_merged(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE compaction_state SET days_merged = greatest(days_merged, $1)")
        .bind(to)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes `table` exclusively for the rest of `tx`, waiting at most 100 ms: `false` when it is busy (another
/// statement holds it), so a partition drop waits for a later run instead of stalling every reader queued behind it.
async fn lock_briefly(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
) -> anyhow::Result<bool> {
    sqlx::query("SET LOCAL lock_timeout = '100ms'")
        .execute(&mut **tx)
        .await?;
    match sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        .execute(&mut **tx)
        .await
    {
        Ok(_) => Ok(true),
        // 55P03: lock_not_available.
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("55P03") => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs a `COPY … TO STDOUT (FORMAT binary)` statement, handing each tuple's `N` fields to `each` as the output
/// arrives (only a tuple cut between two messages is copied).
async fn copy_each<const N: usize>(
    tx: &mut sqlx::PgConnection,
    statement: &str,
    mut each: impl FnMut([&[u8]; N]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use futures::TryStreamExt;
    let mut stream = tx.copy_out_raw(statement).await?;
    let mut parser = CopyParser::default();
    while let Some(bytes) = stream.try_next().await? {
        parser.feed(&bytes, &mut each)?;
    }
    parser.finish()
}

/// An instant as a PostgreSQL `timestamptz` literal (to the microsecond).
fn pg_literal(t: DateTime<Utc>) -> String {
    // PostgreSQL reads years 1 to 9999 in this form; a query's bounds beyond them mean the same as these.
    let t = t.clamp(
        DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or_default(),
        DateTime::from_timestamp(253_402_300_799, 999_999_000).unwrap_or_default(),
    );
    format!(
        "'{}'::timestamptz",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// PostgreSQL timestamps count microseconds from 2000-01-01T00:00:00Z.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A binary `timestamptz` field as Unix milliseconds (stored timestamps are whole milliseconds).
fn pg_millis(field: &[u8]) -> anyhow::Result<i64> {
    let micros = int8(field)?
        .checked_add(PG_EPOCH_MICROS)
        .context("a timestamp out of range")?;
    Ok(micros.div_euclid(1000))
}

/// A binary 8-byte field (`int8`, `timestamptz`, or a `float8`'s bits).
fn int8(field: &[u8]) -> anyhow::Result<i64> {
    Ok(i64::from_be_bytes(
        field.try_into().context("an 8-byte field")?,
    ))
}

/// How many elements a binary one-dimensional array (or an empty one) holds.
fn array_len(field: &[u8]) -> anyhow::Result<usize> {
    let word = |at: usize| -> anyhow::Result<i32> {
        Ok(i32::from_be_bytes(
            field
                .get(at..at + 4)
                .context("a truncated array")?
                .try_into()
                .expect("4 bytes"),
        ))
    };
    match word(0)? {
        0 => Ok(0),
        1 => Ok(usize::try_from(word(12)?).context("a negative array length")?),
        n => anyhow::bail!("an array of {n} dimensions"),
    }
}

/// The elements of a binary one-dimensional array of 8-byte values without NULLs (`timestamptz[]`, `float8[]`).
fn array_items(
    field: &[u8],
) -> anyhow::Result<impl ExactSizeIterator<Item = anyhow::Result<&[u8]>>> {
    let n = array_len(field)?;
    let items = field.get(20..).unwrap_or_default();
    anyhow::ensure!(
        items.len() == n * 12,
        "an array of {n} 8-byte values holds {} bytes",
        items.len()
    );
    Ok(items.chunks_exact(12).map(|item| {
        anyhow::ensure!(
            item[..4] == 8i32.to_be_bytes(),
            "an array element that is NULL or not 8 bytes"
        );
        Ok(&item[4..])
    }))
}

/// PostgreSQL's binary COPY format, parsed as it arrives in pieces: tuples of `N` fields, none NULL.
#[derive(Default)]
struct CopyParser {
    /// The start of a tuple (or of the header) whose end has not arrived yet.
    pending: Vec<u8>,
    header: bool,
    ended: bool,
}

/// What the bytes at hand start with.
enum Step<'a, const N: usize> {
    Tuple([&'a [u8]; N], usize),
    End,
    Incomplete,
}

const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl CopyParser {
    fn feed<const N: usize>(
        &mut self,
        bytes: &[u8],
        each: &mut impl FnMut([&[u8]; N]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let joined;
        let data: &[u8] = if self.pending.is_empty() {
            bytes
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(bytes);
            joined = pending;
            &joined
        };
        let mut at = 0;
        if !self.header {
            match copy_header(data)? {
                Some(len) => (at, self.header) = (len, true),
                None => {
                    self.pending = data.to_vec();
                    return Ok(());
                }
            }
        }
        while !self.ended {
            match copy_tuple::<N>(&data[at..])? {
                Step::Tuple(fields, len) => {
                    each(fields)?;
                    at += len;
                }
                Step::End => (self.ended, at) = (true, at + 2),
                Step::Incomplete => break,
            }
        }
        anyhow::ensure!(
            !self.ended || at == data.len(),
            "bytes after the end of the COPY output"
        );
        self.pending = data[at..].to_vec();
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.ended && self.pending.is_empty(),
            "binary COPY output ends mid-tuple"
        );
        Ok(())
    }
}

/// The header's length, once all of it is at hand.
fn copy_header(data: &[u8]) -> anyhow::Result<Option<usize>> {
    let fixed = COPY_SIGNATURE.len() + 8;
    let seen = data.len().min(COPY_SIGNATURE.len());
    anyhow::ensure!(
        data[..seen] == COPY_SIGNATURE[..seen],
        "not PostgreSQL's binary COPY format"
    );
    if data.len() < fixed {
        return Ok(None);
    }
    let at = COPY_SIGNATURE.len() + 4;
    let extension = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
    Ok((data.len() >= fixed + extension).then_some(fixed + extension))
}

fn copy_tuple<const N: usize>(data: &[u8]) -> anyhow::Result<Step<'_, N>> {
    let Some(count) = data.get(..2) else {
        return Ok(Step::Incomplete);
    };
    let count = i16::from_be_bytes(count.try_into().expect("2 bytes"));
    if count == -1 {
        return Ok(Step::End);
    }
    anyhow::ensure!(
        count as usize == N,
        "{count} fields where {N} were expected"
    );
    let mut at = 2;
    let mut fields = [&data[..0]; N];
    for field in &mut fields {
        let Some(len) = data.get(at..at + 4) else {
            return Ok(Step::Incomplete);
        };
        let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
        anyhow::ensure!(len >= 0, "a NULL field");
        at += 4;
        let Some(bytes) = data.get(at..at + len as usize) else {
            return Ok(Step::Incomplete);
        };
        *field = bytes;
        at += len as usize;
    }
    Ok(Step::Tuple(fields, at))
}

/// One stored chunk's samples, or [`Damaged`] naming it (and logged).
fn decode_chunk(series: i64, start: DateTime<Utc>, bytes: &[u8]) -> Result<Points, Damaged> {
    codec::decode(bytes)
        .map(|(ts, values)| Points { ts, values })
        .map_err(|error| {
            tracing::error!(series, hour = %start, error = %error, "a stored chunk cannot be read");
            Damaged {
                series,
                start,
                error,
            }
        })
}

/// Decodes chunks (kept in their order) on the blocking pool, in as many parts as there are cores, never more
/// parts at once across all reads than cores: decoding is CPU work the async runtime must not wait on.
async fn decode_all(
    chunks: Vec<(i64, DateTime<Utc>, Vec<u8>)>,
) -> Result<Vec<(i64, Vec<i64>, Vec<f64>)>, Damaged> {
    static DECODERS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let decoders = DECODERS.get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(cores)));
    let decode = |(id, start, bytes): (i64, DateTime<Utc>, Vec<u8>)| {
        decode_chunk(id, start, &bytes).map(|p| (id, p.ts, p.values))
    };
    if chunks.len() < 64 {
        return chunks.into_iter().map(decode).collect();
    }
    let per_part = chunks.len().div_ceil(cores);
    let mut parts = Vec::with_capacity(cores);
    let mut rest = chunks.into_iter();
    loop {
        let part: Vec<_> = rest.by_ref().take(per_part).collect();
        if part.is_empty() {
            break;
        }
        let permit = decoders
            .clone()
            .acquire_owned()
            .await
            .expect("the decoder semaphore is never closed");
        parts.push(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            part.into_iter().map(decode).collect::<Result<Vec<_>, _>>()
        }));
    }
    let mut out = Vec::new();
    for part in parts {
        out.extend(part.await.expect("a decoding task does not panic")?);
    }
    Ok(out)
}

/// Every sample before this instant is in `sample_chunks`, none in `samples` (`None`: nothing compacted yet).
pub async fn watermark(pool: &sqlx::PgPool) -> anyhow::Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar("SELECT watermark FROM compaction_state")
        .fetch_optional(pool)
        .await?
        .flatten())
}

/// Sorts values as SQL does: numbers ascending, NaN above every number.
pub fn sort_as_sql(values: &mut [f64]) {
    values.sort_by(|a, b| {
        a.partial_cmp(b)
            .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
    });
}

/// SQL's `percentile_cont(q)` of values sorted by [`sort_as_sql`] (not empty): linear between the two closest ranks.
pub fn percentile_cont(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
    if below == above {
        sorted[below]
    } else {
        sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
    }
}

/// Sums over the same numbers in another order agree to rounding (and NaN with NaN).
fn same_sum(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Two series' samples, each sorted by time, as one sorted series (`a`'s before `b`'s at equal times).
pub(crate) fn merge_sorted(a: Points, b: Points) -> Points {
    let mut out = Points {
        ts: Vec::with_capacity(a.len() + b.len()),
        values: Vec::with_capacity(a.len() + b.len()),
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a.ts[i] <= b.ts[j]) {
            out.ts.push(a.ts[i]);
            out.values.push(a.values[i]);
            i += 1;
        } else {
            out.ts.push(b.ts[j]);
            out.values.push(b.values[j]);
            j += 1;
        }
    }
    out
}

/// Encodes each series' samples as its chunk of `[from, to)` and stores them (replacing any there); returns how many.
async fn write_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by_series: BTreeMap<i64, Points>,
) -> anyhow::Result<usize> {
    let mut ids = Vec::with_capacity(by_series.len());
    let mut summaries = Vec::with_capacity(by_series.len());
    let mut data = Vec::with_capacity(by_series.len());
    for (id, p) in by_series {
        let Some(summary) = Summary::of(&p.ts, &p.values) else {
            continue;
        };
        ids.push(id);
        summaries.push(summary);
        data.push(codec::encode(&p.ts, &p.values));
    }
    upsert_chunks(tx, table, from, to, &ids, &summaries, &data).await?;
    Ok(ids.len())
}

async fn upsert_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ids: &[i64],
    summaries: &[Summary],
    data: &[Vec<u8>],
) -> anyhow::Result<()> {
    let ms = |t: i64| DateTime::<Utc>::from_timestamp_millis(t).unwrap_or_default();
    let col = |f: fn(&Summary) -> f64| summaries.iter().map(f).collect::<Vec<f64>>();
    sqlx::query(&format!(
        "INSERT INTO {table} (series_id, start_ts, end_ts, count, min, max, sum, first_ts, first_value,
                                    last_ts, last_value, data)
         SELECT u.id, $2, $3, u.n, u.lo, u.hi, u.total, u.f_ts, u.f_v, u.l_ts, u.l_v, u.data
         FROM UNNEST($1::int8[], $4::int4[], $5::float8[], $6::float8[], $7::float8[], $8::timestamptz[],
                     $9::float8[], $10::timestamptz[], $11::float8[], $12::bytea[])
              AS u(id, n, lo, hi, total, f_ts, f_v, l_ts, l_v, data)
         ON CONFLICT (series_id, start_ts) DO UPDATE SET count = EXCLUDED.count, min = EXCLUDED.min,
            max = EXCLUDED.max, sum = EXCLUDED.sum, first_ts = EXCLUDED.first_ts, first_value = EXCLUDED.first_value,
            last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value, data = EXCLUDED.data"
    ))
    .bind(ids)
    .bind(from)
    .bind(to)
    .bind(summaries.iter().map(|s| s.count as i32).collect::<Vec<_>>())
    .bind(col(|s| s.min))
    .bind(col(|s| s.max))
    .bind(col(|s| s.sum))
    .bind(summaries.iter().map(|s| ms(s.first_ts)).collect::<Vec<_>>())
    .bind(col(|s| s.first))
    .bind(summaries.iter().map(|s| ms(s.last_ts)).collect::<Vec<_>>())
    .bind(col(|s| s.last))
    .bind(data)
    .execute(&mut **tx)
    .await
    .context("storing the hour's chunks")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` to a parser in pieces of `piece` bytes, collecting `(id, ms, value bits)`.
    fn parse_in_pieces(bytes: &[u8], piece: usize) -> anyhow::Result<Vec<(i64, i64, u64)>> {
        let mut parser = CopyParser::default();
        let mut rows = Vec::new();
        let mut each = |[id, t, v]: [&[u8]; 3]| {
            rows.push((int8(id)?, pg_millis(t)?, int8(v)? as u64));
            Ok(())
        };
        for part in bytes.chunks(piece) {
            parser.feed(part, &mut each)?;
        }
        parser.finish()?;
        Ok(rows)
    }

    #[test]
    fn binary_copy_output_parses_back_in_any_pieces_and_truncation_is_an_error() {
        let ts: Vec<DateTime<Utc>> = [0i64, 1_764_000_000_123, -86_400_001]
            .iter()
            .map(|ms| DateTime::from_timestamp_millis(*ms).unwrap())
            .collect();
        let values = [
            1.5,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::NEG_INFINITY,
        ];
        // The writer's COPY input is the same format as COPY's output.
        let bytes = super::super::copy_binary(&[7, 8, -1], &ts, &values);
        let expected: Vec<(i64, i64, u64)> = [7, 8, -1]
            .into_iter()
            .zip(&ts)
            .zip(values)
            .map(|((id, t), v)| (id, t.timestamp_millis(), v.to_bits()))
            .collect();
        for piece in [bytes.len(), 1, 2, 5, 19, 38] {
            assert_eq!(
                parse_in_pieces(&bytes, piece).unwrap(),
                expected,
                "pieces of {piece}"
            );
        }
        for cut in [5, 20, bytes.len() - 5, bytes.len() - 1] {
            let e = parse_in_pieces(&bytes[..cut], 7).unwrap_err();
            assert!(
                e.to_string().contains("ends mid-tuple"),
                "cut at {cut}: {e}"
            );
        }
        // Query bounds beyond what PostgreSQL reads as literals mean its first and last instants.
        let far = DateTime::from_timestamp(1_000_000_000_000, 0).unwrap();
        assert_eq!(
            pg_literal(far),
            "'9999-12-31T23:59:59.999999Z'::timestamptz"
        );
        let early = DateTime::from_timestamp(-100_000_000_000, 0).unwrap();
        assert_eq!(
            pg_literal(early),
            "'0001-01-01T00:00:00.000000Z'::timestamptz"
        );
        let e = parse_in_pieces(b"not copy output at all", 4).unwrap_err();
        assert!(
            e.to_string().contains("not PostgreSQL's binary COPY"),
            "{e}"
        );
    }
}
