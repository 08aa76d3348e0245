//! Rollup tiers: per series, one row per minute (`rollup_1m`) and per hour (`rollup_1h`) keeping min, max, sum,
//! count and the last value, so long-range queries read a few rows per bucket instead of every sample.
//!
//! Data enters through `rollup_pending`: every committed write adds the time range of its batch in its own
//! transaction. [`Store::roll_up`] (run every few seconds by `serve`) takes those ranges, recomputes the minute rows
//! covering them from the samples (read by series as queries read them, folded here) and the hour rows from the
//! minute rows, and deletes the ranges, all in one transaction, so a crash at any point leaves either the old rows
//! and the pending ranges or the new rows. Data leaves through the query engine, which reads a tier up to the
//! earliest pending time ([`Store::rollup_watermark`]) and raw samples from there on, so answers never lag behind
//! ingest.

use super::chunk::codec::Summary;
use super::{Store, ROLLUP_1H, ROLLUP_1M};
use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::collections::HashSet;
use std::time::Duration;

/// Where a query reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Raw,
    Minute,
    Hour,
}

impl Tier {
    /// The bucket width of the tier (`None` for raw samples).
    pub fn width(self) -> Option<Duration> {
        match self {
            Tier::Raw => None,
            Tier::Minute => Some(Duration::from_secs(60)),
            Tier::Hour => Some(Duration::from_secs(3600)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Minute => "1m",
            Tier::Hour => "1h",
        }
    }

    /// The coarsest tier whose buckets tile buckets of `step` exactly.
    pub fn for_step(step: Duration) -> Tier {
        [Tier::Hour, Tier::Minute]
            .into_iter()
            .find(|t| {
                t.width()
                    .is_some_and(|w| step.as_millis() % w.as_millis() == 0)
            })
            .unwrap_or(Tier::Raw)
    }
}

impl Store {
    /// Folds every pending time range into the rollup tiers. Returns how many pending ranges were folded.
    pub async fn roll_up(&self) -> anyhow::Result<usize> {
        let minute = TimeDelta::minutes(1);
        loop {
            // Partitions first, outside the folding transaction: creating one waits for every transaction that
            // holds the parent table, and the folding transaction would be one of them.
            let peek: Vec<(DateTime<Utc>, DateTime<Utc>)> =
                sqlx::query_as("SELECT from_ts, to_ts FROM rollup_pending")
                    .fetch_all(&self.pool)
                    .await
                    .context("reading pending rollup ranges")?;
            if peek.is_empty() {
                return Ok(0);
            }
            let ready = touched_hours(&merge(&peek, minute)?);
            self.ensure_partitions(ROLLUP_1M, ready.clone()).await?;
            self.ensure_partitions(ROLLUP_1H, ready.clone()).await?;

            let mut tx = self.pool.begin().await?;
            // One job at a time, also across mcpulse processes sharing the database.
            sqlx::query("SELECT pg_advisory_xact_lock(7415002)")
                .execute(&mut *tx)
                .await?;
            let pending: Vec<(DateTime<Utc>, DateTime<Utc>)> =
                sqlx::query_as("DELETE FROM rollup_pending RETURNING from_ts, to_ts")
                    .fetch_all(&mut *tx)
                    .await
                    .context("taking pending rollup ranges")?;
            let ranges = merge(&pending, minute)?;
            if !touched_hours(&ranges).is_subset(&ready) {
                // A batch for another hour arrived meanwhile: make its partitions first.
                tx.rollback().await?;
                continue;
            }
            for (from, to) in &ranges {
                self.fold(&mut tx, *from, *to).await?;
            }
            tx.commit().await?;
            return Ok(pending.len());
        }
    }

    /// Recomputes the minute rows of `[from, to)` from samples and the hour rows around them from minutes. Below
    /// the compaction watermark (late samples), the minutes of the series with late rows are recomputed from their
    /// chunks and rows, with compaction held off meanwhile.
    async fn fold(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let hour = TimeDelta::hours(1);
        let mut rows_from = from;
        if let Some(watermark) = super::chunk::watermark(&self.pool)
            .await?
            .filter(|w| from < *w)
        {
            // The watermark only advances over hours without pending ranges, and this range is pending until
            // this transaction commits: below it nothing moves once the lock is held.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(super::chunk::COMPACTION_LOCK)
                .execute(&mut **tx)
                .await?;
            rows_from = to.min(watermark);
            // Whole hours (the watermark is on one), so the hour rows below come from complete minutes: the
            // minute rows of compacted hours are dropped once their chunks answer for them.
            self.fold_compacted(tx, from, rows_from, ceil(rows_from, hour)?)
                .await?;
        }
        if rows_from < to {
            // Read by series (as queries read them) and folded here: one SQL statement grouping a bulk load's
            // millions of samples by series and minute, with an ordered aggregate for each minute's last value,
            // took ~19 s for 9.5 M samples beside the queries right after the load.
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT series_id FROM samples WHERE ts >= $1 AND ts < $2",
            )
            .bind(rows_from.duration_trunc(hour)?)
            .bind(to)
            .fetch_all(&mut **tx)
            .await
            .context("finding the series to roll up")?;
            // A quarter of a query's batch: the decoded samples, their minute rows and the insert's arguments are
            // all in memory at once, beside the queries of the moment.
            for batch in ids.chunks((super::chunk::series_per_read(rows_from, to) / 4).max(16)) {
                let points = super::chunk::read(tx, batch, rows_from, to).await?;
                insert_minutes(tx, points)
                    .await
                    .context("rolling samples up into minutes")?;
            }
        }
        let (hour_from, hour_to) = (from.duration_trunc(hour)?, ceil(to, hour)?);
        sqlx::query(
            "INSERT INTO rollup_1h (series_id, bucket, min, max, sum, count, last, last_ts)
             SELECT series_id, date_bin('1 hour', bucket, 'epoch'::timestamptz), min(min), max(max), sum(sum),
                    sum(count), (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)
             FROM rollup_1m WHERE bucket >= $1 AND bucket < $2 GROUP BY 1, 2
             ON CONFLICT (series_id, bucket) DO UPDATE SET min = EXCLUDED.min, max = EXCLUDED.max,
                sum = EXCLUDED.sum, count = EXCLUDED.count, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts",
        )
        .bind(hour_from)
        .bind(hour_to)
        .execute(&mut **tx)
        .await
        .context("rolling minutes up into hours")?;
        Ok(())
    }

    /// The minute rows of the whole hours around `[from, to)` (below the watermark, up to `hours_to`) for the series
    /// with late rows in `[from, to)`, from their chunks and rows.
    async fn fold_compacted(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        hours_to: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT series_id FROM samples_in($1, $2)")
            .bind(from)
            .bind(to)
            .fetch_all(&mut **tx)
            .await?;
        if ids.is_empty() {
            return Ok(());
        }
        let hours_from = from.duration_trunc(TimeDelta::hours(1))?;
        let points = super::chunk::read(tx, &ids, hours_from, hours_to).await?;
        insert_minutes(tx, points)
            .await
            .context("rolling compacted samples up into minutes")
    }

    /// The earliest time whose samples may not be in the rollup tiers yet (`None`: all are).
    pub async fn rollup_watermark(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT min(from_ts) FROM rollup_pending")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Writes (or replaces) the minute rows of every minute the series' samples (each sorted by time) touch.
async fn insert_minutes(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    points: std::collections::BTreeMap<i64, super::chunk::Points>,
) -> anyhow::Result<()> {
    let mut out = MinuteRows::default();
    for (id, p) in points {
        let mut start = 0;
        while start < p.ts.len() {
            let minute = p.ts[start].div_euclid(60_000);
            let len = p.ts[start..]
                .iter()
                .take_while(|t| t.div_euclid(60_000) == minute)
                .count();
            let end = start + len;
            if let Some(s) = Summary::of(&p.ts[start..end], &p.values[start..end]) {
                out.push(id, minute * 60_000, &s);
            }
            start = end;
        }
    }
    if out.ids.is_empty() {
        return Ok(());
    }
    let ms = |t: &i64| DateTime::<Utc>::from_timestamp_millis(*t).unwrap_or_default();
    sqlx::query(
        "INSERT INTO rollup_1m (series_id, bucket, min, max, sum, count, last, last_ts)
         SELECT * FROM UNNEST($1::int8[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[],
                              $6::int8[], $7::float8[], $8::timestamptz[])
         ON CONFLICT (series_id, bucket) DO UPDATE SET min = EXCLUDED.min, max = EXCLUDED.max,
            sum = EXCLUDED.sum, count = EXCLUDED.count, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts",
    )
    .bind(&out.ids)
    .bind(out.buckets.iter().map(ms).collect::<Vec<_>>())
    .bind(&out.min)
    .bind(&out.max)
    .bind(&out.sum)
    .bind(&out.count)
    .bind(&out.last)
    .bind(out.last_ts.iter().map(ms).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Minute rows as columns, for one `UNNEST` insert.
#[derive(Default)]
struct MinuteRows {
    ids: Vec<i64>,
    buckets: Vec<i64>,
    min: Vec<f64>,
    max: Vec<f64>,
    sum: Vec<f64>,
    count: Vec<i64>,
    last: Vec<f64>,
    last_ts: Vec<i64>,
}

impl MinuteRows {
    fn push(&mut self, id: i64, bucket: i64, s: &Summary) {
        self.ids.push(id);
        self.buckets.push(bucket);
        self.min.push(s.min);
        self.max.push(s.max);
        self.sum.push(s.sum);
        self.count.push(s.count);
        self.last.push(s.last);
        self.last_ts.push(s.last_ts);
    }
}

/// Pending ranges (inclusive sample times) widened to whole `unit`s, sorted, with overlapping or touching ones merged
/// into half-open ranges.
fn merge(
    ranges: &[(DateTime<Utc>, DateTime<Utc>)],
    unit: TimeDelta,
) -> anyhow::Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let mut widened = ranges
        .iter()
        .map(|(from, to)| Ok((from.duration_trunc(unit)?, to.duration_trunc(unit)? + unit)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    widened.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (from, to) in widened {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    Ok(merged)
}

fn ceil(t: DateTime<Utc>, unit: TimeDelta) -> anyhow::Result<DateTime<Utc>> {
    let down = t.duration_trunc(unit)?;
    Ok(if down == t { t } else { down + unit })
}

/// The start of every UTC hour that the ranges touch (the minute and hour rows of a range's whole hours are
/// recomputed).
fn touched_hours(ranges: &[(DateTime<Utc>, DateTime<Utc>)]) -> HashSet<chrono::NaiveDateTime> {
    let hour = TimeDelta::hours(1);
    ranges
        .iter()
        .flat_map(|(from, to)| {
            let from = from.duration_trunc(hour).unwrap_or(*from);
            let to = ceil(*to, hour).unwrap_or(*to);
            hours_between(from, to)
        })
        .collect()
}

/// The start of every UTC hour that `[from, to)` (whole hours) touches.
fn hours_between(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Iterator<Item = chrono::NaiveDateTime> {
    let hour = TimeDelta::hours(1);
    std::iter::successors(Some(from), move |h| Some(*h + hour))
        .take_while(move |h| *h < to)
        .map(|h| h.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn pending_ranges_widen_to_minutes_and_merge() {
        let ranges = [
            (t(10, 0, 5), t(10, 0, 50)),
            (t(10, 1, 0), t(10, 1, 0)),
            (t(9, 0, 0), t(9, 0, 30)),
            (t(10, 0, 30), t(10, 0, 40)),
        ];
        assert_eq!(
            merge(&ranges, TimeDelta::minutes(1)).unwrap(),
            vec![(t(9, 0, 0), t(9, 1, 0)), (t(10, 0, 0), t(10, 2, 0))]
        );
    }

    #[test]
    fn the_coarsest_tier_that_tiles_the_step_is_chosen() {
        let cases = [
            (10, Tier::Raw),
            (90, Tier::Raw),
            (60, Tier::Minute),
            (300, Tier::Minute),
            (3600, Tier::Hour),
            (7200, Tier::Hour),
            (5400, Tier::Minute),
        ];
        for (secs, tier) in cases {
            assert_eq!(Tier::for_step(Duration::from_secs(secs)), tier, "{secs} s");
        }
    }

    #[test]
    fn a_range_touches_the_hours_it_covers() {
        let hours = touched_hours(&[(t(22, 59, 0), t(23, 1, 0)), (t(23, 30, 0), t(23, 31, 0))]);
        let mut hours: Vec<_> = hours.into_iter().collect();
        hours.sort();
        assert_eq!(
            hours,
            vec![t(22, 0, 0).naive_utc(), t(23, 0, 0).naive_utc()]
        );
        let whole: Vec<_> = hours_between(t(22, 0, 0), t(23, 0, 0)).collect();
        assert_eq!(whole, vec![t(22, 0, 0).naive_utc()], "the end is exclusive");
    }
}
