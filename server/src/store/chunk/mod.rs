//! The compacted tier: closed hours of raw samples re-written as one chunk per series and hour (`sample_chunks`,
//! encoded by [`codec`]), with the hour's count, min, max, sum, first and last beside the bytes.
//!
//! Data in: rows of `samples` older than the hot window, moved by [`Store::compact`] — per hour, in one transaction
//! that reads the hour's rows in series order, inserts the chunks (idempotently), checks that the chunks hold as many
//! samples with the same sum as the rows, deletes the rows and advances the watermark (`compaction_state`). A crash
//! anywhere leaves either the rows or the chunks, never both and never neither. Data out: [`Store::points`], every
//! sample of some series in a time range, from the chunks before the watermark and the rows after it, read in one
//! snapshot.

pub mod codec;

use super::{Store, CHUNKS};
use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use codec::Summary;
use std::collections::BTreeMap;

/// One advisory lock for compaction across processes sharing the database.
const COMPACTION_LOCK: i64 = 7_415_004;
/// Series whose rows one pass of an hour holds in memory at once.
const SERIES_PER_PASS: i64 = 2_000;

/// What [`Store::compact`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub hours: usize,
    pub chunks: usize,
    pub samples: usize,
}

/// One series' samples, sorted by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
}

impl Store {
    /// See [`watermark`].
    pub async fn compaction_watermark(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        watermark(&self.pool).await
    }

    /// Compacts every closed hour that ends at least `hot` before `now` and whose samples are all in the rollup
    /// tiers, oldest first.
    pub async fn compact(
        &self,
        now: DateTime<Utc>,
        hot: std::time::Duration,
    ) -> anyhow::Result<Compacted> {
        let hour = TimeDelta::hours(1);
        let until = (now - chrono::Duration::from_std(hot)?).duration_trunc(hour)?;
        let mut done = Compacted::default();
        let mut from = match self.compaction_watermark().await? {
            Some(w) => w,
            None => {
                let oldest: Option<DateTime<Utc>> =
                    sqlx::query_scalar("SELECT min(ts) FROM samples")
                        .fetch_one(&self.pool)
                        .await?;
                match oldest {
                    Some(t) => t.duration_trunc(hour)?,
                    None => return Ok(done),
                }
            }
        };
        while from + hour <= until {
            let to = from + hour;
            // The rollup job folds from raw rows: an hour it has not folded yet stays raw.
            let unfolded: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM rollup_pending WHERE from_ts < $1)",
            )
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
            if unfolded {
                break;
            }
            self.ensure_partitions(CHUNKS, [from.date_naive()].into())
                .await?;
            let (chunks, samples) = self
                .compact_hour(from, to)
                .await
                .with_context(|| format!("compacting the hour from {from}"))?;
            if samples > 0 {
                done.hours += 1;
                done.chunks += chunks;
                done.samples += samples;
            }
            from = to;
        }
        Ok(done)
    }

    /// Moves the rows of `[from, to)` into chunks, in one transaction.
    async fn compact_hour(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<(usize, usize)> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .execute(&mut *tx)
            .await?;
        // Another process may have compacted this hour meanwhile.
        let watermark: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT watermark FROM compaction_state FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        if watermark.is_some_and(|w| w >= to) {
            return Ok((0, 0));
        }
        let (mut chunks, mut samples, mut sum) = (0usize, 0usize, 0f64);
        let mut after: i64 = i64::MIN;
        loop {
            // A pass over the next series, by id, so memory stays bounded however many series the hour has.
            let rows: Vec<(i64, i64, f64)> = sqlx::query_as(
                "SELECT series_id, (extract(epoch FROM ts) * 1000)::int8, value FROM samples
                 WHERE ts >= $1 AND ts < $2 AND series_id > $3
                   AND series_id < (SELECT coalesce(max(id), $3) + 1 FROM (
                         SELECT DISTINCT series_id AS id FROM samples
                         WHERE ts >= $1 AND ts < $2 AND series_id > $3 ORDER BY 1 LIMIT $4) next)
                 ORDER BY series_id, ts",
            )
            .bind(from)
            .bind(to)
            .bind(after)
            .bind(SERIES_PER_PASS)
            .fetch_all(&mut *tx)
            .await
            .context("reading the hour's rows")?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.0;
            let mut by_series: BTreeMap<i64, Points> = BTreeMap::new();
            for (id, t, v) in rows {
                let p = by_series.entry(id).or_default();
                p.ts.push(t);
                p.values.push(v);
            }
            let mut ids = Vec::with_capacity(by_series.len());
            let mut summaries = Vec::with_capacity(by_series.len());
            let mut data = Vec::with_capacity(by_series.len());
            for (id, p) in by_series {
                let Some(summary) = Summary::of(&p.ts, &p.values) else {
                    continue;
                };
                samples += p.ts.len();
                sum += summary.sum;
                ids.push(id);
                summaries.push(summary);
                data.push(codec::encode(&p.ts, &p.values));
            }
            chunks += ids.len();
            insert_chunks(&mut tx, from, to, &ids, &summaries, &data).await?;
        }
        // The chunks of this hour hold exactly the rows about to be deleted.
        let (stored, stored_sum): (i64, Option<f64>) = sqlx::query_as(
            "SELECT coalesce(sum(count), 0)::int8, sum(sum) FROM sample_chunks WHERE start_ts = $1",
        )
        .bind(from)
        .fetch_one(&mut *tx)
        .await?;
        anyhow::ensure!(
            stored as usize == samples,
            "the hour's chunks hold {stored} samples, its rows {samples}"
        );
        let stored_sum = stored_sum.unwrap_or(0.0);
        anyhow::ensure!(
            same_sum(stored_sum, sum),
            "the hour's chunks sum to {stored_sum}, its rows to {sum}"
        );
        sqlx::query("DELETE FROM samples WHERE ts >= $1 AND ts < $2")
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE compaction_state SET watermark = $1")
            .bind(to)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((chunks, samples))
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

/// Every sample of `series` in `[from, to)`, sorted by time per series: decoded from the chunks before the
/// watermark, read from the rows after it, in one snapshot (a compaction committing meanwhile is not seen half).
/// The one way raw samples are read.
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
    let chunks: Vec<(i64, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
        "SELECT series_id, start_ts, data FROM sample_chunks
         WHERE series_id = ANY($1) AND start_ts < $3 AND end_ts > $2 ORDER BY series_id, start_ts",
    )
    .bind(series)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    let rows: Vec<(i64, i64, f64)> = sqlx::query_as(
        "SELECT series_id, (extract(epoch FROM ts) * 1000)::int8, value FROM samples
         WHERE series_id = ANY($1) AND ts >= $2 AND ts < $3 ORDER BY series_id, ts",
    )
    .bind(series)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let (lo, hi) = (from.timestamp_millis(), to.timestamp_millis());
    let mut out: BTreeMap<i64, Points> = BTreeMap::new();
    for (id, start, bytes) in chunks {
        let (ts, values) = codec::decode(&bytes).map_err(|e| {
            tracing::error!(series = id, hour = %start, error = %e, "a stored chunk cannot be read");
            anyhow::anyhow!("the samples of series {id} from {start} cannot be read: {e}")
        })?;
        let p = out.entry(id).or_default();
        for (t, v) in ts.into_iter().zip(values) {
            if t >= lo && t < hi {
                p.ts.push(t);
                p.values.push(v);
            }
        }
    }
    for (id, t, v) in rows {
        let p = out.entry(id).or_default();
        p.ts.push(t);
        p.values.push(v);
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

async fn insert_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ids: &[i64],
    summaries: &[Summary],
    data: &[Vec<u8>],
) -> anyhow::Result<()> {
    let ms = |t: i64| DateTime::<Utc>::from_timestamp_millis(t).unwrap_or_default();
    let col = |f: fn(&Summary) -> f64| summaries.iter().map(f).collect::<Vec<f64>>();
    sqlx::query(
        "INSERT INTO sample_chunks (series_id, start_ts, end_ts, count, min, max, sum, first_ts, first_value,
                                    last_ts, last_value, data)
         SELECT u.id, $2, $3, u.n, u.lo, u.hi, u.total, u.f_ts, u.f_v, u.l_ts, u.l_v, u.data
         FROM UNNEST($1::int8[], $4::int4[], $5::float8[], $6::float8[], $7::float8[], $8::timestamptz[],
                     $9::float8[], $10::timestamptz[], $11::float8[], $12::bytea[])
              AS u(id, n, lo, hi, total, f_ts, f_v, l_ts, l_v, data)
         ON CONFLICT (series_id, start_ts) DO NOTHING",
    )
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
