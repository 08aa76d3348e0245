//! Time-series storage in PostgreSQL.
//!
//! Samples enter through [`Store::write`] (one transaction per batch: series upserted, samples appended with one
//! `UNNEST` insert, each series' latest value updated) and leave through [`Store::current_values`] and
//! [`Store::recent_points`]. `samples` is partitioned by day; [`Store::ensure_partitions`] creates partitions as data
//! arrives and [`Store::apply_retention`] drops whole partitions that fall out of the retention period.

pub mod query;

use anyhow::Context;
use app::types::{CurrentValue, Point};
use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A label set, ordered so equal sets serialise identically.
pub type Labels = BTreeMap<String, String>;

/// One value of one series at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: String,
    pub source: String,
    pub labels: Labels,
    pub ts: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    metric: String,
    source: String,
    labels: String,
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub stored: usize,
    /// Samples left out because they would have created series beyond the source's limit.
    pub rejected: usize,
}

/// Series a source may have before new ones are refused.
pub const DEFAULT_MAX_SERIES_PER_SOURCE: usize = 10_000;

pub struct Store {
    pool: PgPool,
    max_series_per_source: usize,
    series_per_source: Mutex<HashMap<String, usize>>,
    rejected_samples: AtomicU64,
    /// Series ids already known, so steady-state writes skip the upsert.
    series: Mutex<HashMap<SeriesKey, i64>>,
    /// Days whose partition is known to exist.
    partitions: Mutex<HashSet<NaiveDate>>,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self::with_series_limit(pool, DEFAULT_MAX_SERIES_PER_SOURCE)
    }

    pub fn with_series_limit(pool: PgPool, max_series_per_source: usize) -> Self {
        Store {
            pool,
            max_series_per_source,
            series_per_source: Mutex::new(HashMap::new()),
            rejected_samples: AtomicU64::new(0),
            series: Mutex::new(HashMap::new()),
            partitions: Mutex::new(HashSet::new()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores a batch durably (returns after commit). Samples of new series beyond the per-source series limit are
    /// left out and counted (a cardinality bomb is cut off while existing series keep flowing).
    pub async fn write(&self, samples: &[Sample]) -> anyhow::Result<WriteOutcome> {
        if samples.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let keys: Vec<SeriesKey> = samples
            .iter()
            .map(|s| SeriesKey {
                metric: s.metric.clone(),
                source: s.source.clone(),
                labels: serde_json::to_string(&s.labels).unwrap_or_else(|_| "{}".into()),
            })
            .collect();
        let ids = self.series_ids(&keys).await?;
        let mut kept_ids = Vec::with_capacity(samples.len());
        let mut ts = Vec::with_capacity(samples.len());
        let mut values = Vec::with_capacity(samples.len());
        for (sample, id) in samples.iter().zip(&ids) {
            if let Some(id) = id {
                kept_ids.push(*id);
                ts.push(sample.ts);
                values.push(sample.value);
            }
        }
        let rejected = samples.len() - kept_ids.len();
        if rejected > 0 {
            self.rejected_samples
                .fetch_add(rejected as u64, Ordering::Relaxed);
        }
        if kept_ids.is_empty() {
            return Ok(WriteOutcome {
                stored: 0,
                rejected,
            });
        }
        self.ensure_partitions(ts.iter().map(|t| t.date_naive()).collect())
            .await?;

        // Latest value per series, computed here so the update touches each series once.
        let mut latest: HashMap<i64, (DateTime<Utc>, f64)> = HashMap::new();
        for ((id, t), v) in kept_ids.iter().zip(&ts).zip(&values) {
            let entry = latest.entry(*id).or_insert((*t, *v));
            if *t >= entry.0 {
                *entry = (*t, *v);
            }
        }
        let (latest_ids, (latest_ts, latest_values)): (Vec<i64>, (Vec<DateTime<Utc>>, Vec<f64>)) =
            latest.into_iter().map(|(id, (t, v))| (id, (t, v))).unzip();

        let mut tx = self.pool.begin().await?;
        // COPY in binary format: measured faster here than one INSERT … SELECT FROM UNNEST (see `mcpulse bench ingest`).
        let mut copy = tx
            .copy_in_raw("COPY samples (series_id, ts, value) FROM STDIN (FORMAT binary)")
            .await
            .context("starting the sample copy")?;
        copy.send(copy_binary(&kept_ids, &ts, &values))
            .await
            .context("copying samples")?;
        copy.finish().await.context("finishing the sample copy")?;
        sqlx::query(
            "UPDATE series s SET last_ts = u.ts, last_value = u.value
             FROM UNNEST($1::bigint[], $2::timestamptz[], $3::float8[]) AS u(id, ts, value)
             WHERE s.id = u.id AND (s.last_ts IS NULL OR s.last_ts <= u.ts)",
        )
        .bind(&latest_ids)
        .bind(&latest_ts)
        .bind(&latest_values)
        .execute(&mut *tx)
        .await
        .context("updating latest values")?;
        tx.commit().await?;
        Ok(WriteOutcome {
            stored: kept_ids.len(),
            rejected,
        })
    }

    /// Samples left out so far because their source hit the series limit.
    pub fn rejected_samples(&self) -> u64 {
        self.rejected_samples.load(Ordering::Relaxed)
    }

    /// The series id of every key, creating series as needed within the per-source limit (`None`: over it).
    async fn series_ids(&self, keys: &[SeriesKey]) -> anyhow::Result<Vec<Option<i64>>> {
        let missing: Vec<SeriesKey> = {
            let known = lock(&self.series);
            let mut seen = HashSet::new();
            keys.iter()
                .filter(|k| !known.contains_key(*k) && seen.insert(*k))
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            // Series that exist already (e.g. created before a restart) never count against the limit.
            self.load_ids(&missing).await?;
            let new: Vec<SeriesKey> = {
                let known = lock(&self.series);
                missing
                    .into_iter()
                    .filter(|k| !known.contains_key(k))
                    .collect()
            };
            let mut allowed = Vec::with_capacity(new.len());
            for key in new {
                let count = self.series_count(&key.source).await?;
                let mut counts = lock(&self.series_per_source);
                let entry = counts.entry(key.source.clone()).or_insert(count);
                if *entry < self.max_series_per_source {
                    *entry += 1;
                    allowed.push(key);
                } else {
                    tracing::warn!(source = %key.source, metric = %key.metric, limit = self.max_series_per_source,
                        "series limit reached; new series are dropped");
                }
            }
            if !allowed.is_empty() {
                let (metrics, sources, labels) = columns(&allowed);
                sqlx::query(
                    "INSERT INTO series (metric, source, labels)
                     SELECT m, s, l::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[]) AS x(m, s, l)
                     ON CONFLICT (metric, source, labels) DO NOTHING",
                )
                .bind(&metrics)
                .bind(&sources)
                .bind(&labels)
                .execute(&self.pool)
                .await
                .context("creating series")?;
                self.load_ids(&allowed).await?;
            }
        }
        let known = lock(&self.series);
        Ok(keys.iter().map(|k| known.get(k).copied()).collect())
    }

    /// Reads the ids of existing series among `keys` into the cache.
    async fn load_ids(&self, keys: &[SeriesKey]) -> anyhow::Result<()> {
        let (metrics, sources, labels) = columns(keys);
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT x.i, s.id FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(m, src, l, i)
             JOIN series s ON s.metric = x.m AND s.source = x.src AND s.labels = x.l::jsonb",
        )
        .bind(&metrics)
        .bind(&sources)
        .bind(&labels)
        .fetch_all(&self.pool)
        .await
        .context("reading series ids")?;
        let mut known = lock(&self.series);
        for (ordinal, id) in rows {
            if let Some(key) = usize::try_from(ordinal - 1).ok().and_then(|i| keys.get(i)) {
                known.insert(key.clone(), id);
            }
        }
        Ok(())
    }

    /// How many series `source` has (read once, then tracked in memory).
    async fn series_count(&self, source: &str) -> anyhow::Result<usize> {
        if let Some(n) = lock(&self.series_per_source).get(source) {
            return Ok(*n);
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM series WHERE source = $1")
            .bind(source)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }

    /// Creates the daily partitions for `days` that do not exist yet.
    pub async fn ensure_partitions(&self, days: HashSet<NaiveDate>) -> anyhow::Result<()> {
        let missing: Vec<NaiveDate> = {
            let known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            days.into_iter().filter(|d| !known.contains(d)).collect()
        };
        for day in missing {
            let next = day
                .checked_add_days(Days::new(1))
                .context("date out of range")?;
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF samples FOR VALUES FROM ('{day}T00:00:00Z') TO ('{next}T00:00:00Z')",
                partition_name(day)
            );
            let mut tx = self.pool.begin().await?;
            // Two writers creating the same partition at once would otherwise race in the catalog.
            sqlx::query("SELECT pg_advisory_xact_lock(7415001)")
                .execute(&mut *tx)
                .await?;
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("creating partition for {day}"))?;
            tx.commit().await?;
            self.partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(day);
        }
        Ok(())
    }

    /// Drops every daily partition whose whole day is older than `now - retention`. Returns the dropped names.
    pub async fn apply_retention(
        &self,
        now: DateTime<Utc>,
        retention: std::time::Duration,
    ) -> anyhow::Result<Vec<String>> {
        let cutoff = now - chrono::Duration::from_std(retention)?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
             WHERE p.relname = 'samples'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut dropped = Vec::new();
        for name in names {
            let Some(day) = parse_partition_name(&name) else {
                continue;
            };
            let end = day
                .checked_add_days(Days::new(1))
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc());
            if end.is_some_and(|end| end <= cutoff) {
                sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                    .execute(&self.pool)
                    .await?;
                self.partitions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&day);
                tracing::info!(partition = %name, "retention dropped a day of samples");
                dropped.push(name);
            }
        }
        Ok(dropped)
    }

    /// The latest value of every series.
    pub async fn current_values(&self) -> anyhow::Result<Vec<CurrentValue>> {
        let rows: Vec<(String, String, f64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT source, metric, last_value, last_ts FROM series WHERE last_ts IS NOT NULL ORDER BY source, metric, labels",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(source, metric, value, at)| CurrentValue {
                source,
                metric,
                value,
                at,
            })
            .collect())
    }

    /// Points of the (label-less) series `metric` of `source` since `since`, oldest first.
    pub async fn recent_points(
        &self,
        source: &str,
        metric: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Point>> {
        let rows: Vec<(DateTime<Utc>, f64)> = sqlx::query_as(
            "SELECT ts, value FROM samples WHERE series_id IN
               (SELECT id FROM series WHERE source = $1 AND metric = $2 AND labels = '{}'::jsonb)
             AND ts >= $3 ORDER BY ts",
        )
        .bind(source)
        .bind(metric)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(ts, v)| Point {
                t: ts.timestamp_millis(),
                v,
            })
            .collect())
    }
}

/// Rows `(series_id, ts, value)` in PostgreSQL's binary COPY format.
pub fn copy_binary(ids: &[i64], ts: &[DateTime<Utc>], values: &[f64]) -> Vec<u8> {
    // PostgreSQL timestamps count microseconds from 2000-01-01T00:00:00Z.
    const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
    let mut out = Vec::with_capacity(19 + ids.len() * 38 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for ((id, t), v) in ids.iter().zip(ts).zip(values) {
        out.extend_from_slice(&3i16.to_be_bytes());
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes());
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Series keys as the three parallel arrays `UNNEST` takes.
fn columns(keys: &[SeriesKey]) -> (Vec<&str>, Vec<&str>, Vec<&str>) {
    (
        keys.iter().map(|k| k.metric.as_str()).collect(),
        keys.iter().map(|k| k.source.as_str()).collect(),
        keys.iter().map(|k| k.labels.as_str()).collect(),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn partition_name(day: NaiveDate) -> String {
    format!("samples_p{}", day.format("%Y%m%d"))
}

fn parse_partition_name(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix("samples_p")?, "%Y%m%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(partition_name(day), "samples_p20261124");
        assert_eq!(parse_partition_name("samples_p20261124"), Some(day));
        assert_eq!(parse_partition_name("samples_default"), None);
    }
}
