//! Each series' latest value (`series.last_ts` / `last_value`), written once for many batches.
//!
//! Data in: after a batch's samples are committed, [`Latest::record`] merges the batch's latest value per series
//! into a pending map and flushes it: one writer at a time runs the `UPDATE`, and it takes everything recorded
//! until then, so batches arriving together (several clients pushing the same series) cost one update of their
//! series rows instead of one each, and no sample transaction holds series row locks while it commits. The write
//! returns after its values were flushed (by itself or by the writer before it), so a reader of `series` sees what
//! was acknowledged. Data out: the `series` rows. A failed flush keeps its values pending for the next one — the
//! next push's, or the rollup job's every 10 s (`Store::flush_latest`) — the samples themselves are committed
//! already; only this derived copy waits.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;

/// The pending latest values and the flush sequence.
#[derive(Default)]
pub struct Latest {
    state: Mutex<Pending>,
    /// Held by the one flush running.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Pending {
    /// Series id → latest time (ms) and value not yet written.
    values: HashMap<i64, (i64, f64)>,
    /// Batches recorded so far, and how many of them a finished flush has written.
    recorded: u64,
    flushed: u64,
}

impl Latest {
    /// Notes the latest sample per series of a committed batch (`ids`, `ts`, `values`: one per sample) and returns
    /// once it is in `series` (or, when the database refused the flush, once it is kept for the next one: logged,
    /// not an error of the batch).
    pub async fn record(&self, pool: &PgPool, ids: &[i64], ts: &[DateTime<Utc>], values: &[f64]) {
        // Reduced to one value per series before the lock is taken.
        let batch = newest_per_series(ids, ts, values);
        let mine = {
            let mut state = super::lock(&self.state);
            for (id, (t, v)) in batch {
                merge(&mut state.values, id, t, v);
            }
            state.recorded += 1;
            state.recorded
        };
        let _flushing = self.flushing.lock().await;
        if super::lock(&self.state).flushed >= mine {
            // The flush before this one took this batch's values.
            return;
        }
        if let Err(e) = self.flush_locked(pool).await {
            tracing::warn!(error = %e, "latest values not written yet; the next batch writes them");
        }
    }

    /// Writes every pending value now (readers that must see the very latest call it; a no-op when none waits).
    pub async fn flush(&self, pool: &PgPool) -> anyhow::Result<()> {
        let _flushing = self.flushing.lock().await;
        self.flush_locked(pool).await
    }

    async fn flush_locked(&self, pool: &PgPool) -> anyhow::Result<()> {
        let (values, upto) = {
            let mut state = super::lock(&self.state);
            (std::mem::take(&mut state.values), state.recorded)
        };
        if values.is_empty() {
            super::lock(&self.state).flushed = upto;
            return Ok(());
        }
        let mut rows: Vec<(i64, (i64, f64))> = values.into_iter().collect();
        // In id order: another process flushing the same series locks its rows in the same order (no deadlock).
        rows.sort_unstable_by_key(|(id, _)| *id);
        match write(pool, &rows).await {
            Ok(()) => {
                super::lock(&self.state).flushed = upto;
                Ok(())
            }
            Err(e) => {
                let mut state = super::lock(&self.state);
                for (id, (t, v)) in rows {
                    merge(&mut state.values, id, t, v);
                }
                Err(e)
            }
        }
    }
}

/// Each series' newest sample (time in ms) among a batch's samples (at equal times, the later in the batch).
fn newest_per_series(
    ids: &[i64],
    ts: &[DateTime<Utc>],
    values: &[f64],
) -> HashMap<i64, (i64, f64)> {
    let mut newest = HashMap::new();
    // A series' samples mostly come together: one map entry per run of them, not one hash per sample.
    let mut run: Option<(i64, i64, f64)> = None;
    for ((&id, t), &v) in ids.iter().zip(ts).zip(values) {
        let t = t.timestamp_millis();
        match &mut run {
            Some((rid, rt, rv)) if *rid == id => {
                if t >= *rt {
                    (*rt, *rv) = (t, v);
                }
            }
            _ => {
                if let Some((rid, rt, rv)) = run.replace((id, t, v)) {
                    merge(&mut newest, rid, rt, rv);
                }
            }
        }
    }
    if let Some((rid, rt, rv)) = run {
        merge(&mut newest, rid, rt, rv);
    }
    newest
}

/// Keeps the later of two samples of a series (at equal times, the one recorded last).
fn merge(values: &mut HashMap<i64, (i64, f64)>, id: i64, t: i64, v: f64) {
    let entry = values.entry(id).or_insert((t, v));
    if t >= entry.0 {
        *entry = (t, v);
    }
}

async fn write(pool: &PgPool, rows: &[(i64, (i64, f64))]) -> anyhow::Result<()> {
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let ts: Vec<DateTime<Utc>> = rows
        .iter()
        .map(|(_, (t, _))| DateTime::from_timestamp_millis(*t).unwrap_or_default())
        .collect();
    let values: Vec<f64> = rows.iter().map(|(_, (_, v))| *v).collect();
    let mut tx = pool.begin().await?;
    // The rows are locked first, in id order (an UPDATE … FROM may visit them in any order the plan picks).
    sqlx::query("SELECT 1 FROM series WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE series s SET last_ts = u.ts, last_value = u.value
         FROM UNNEST($1::bigint[], $2::timestamptz[], $3::float8[]) AS u(id, ts, value)
         WHERE s.id = u.id AND (s.last_ts IS NULL OR s.last_ts <= u.ts)",
    )
    .bind(&ids)
    .bind(&ts)
    .bind(&values)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
