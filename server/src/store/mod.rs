//! Time-series storage in PostgreSQL.
//!
//! Samples enter through [`Store::write`] (one transaction per batch: series looked up or created within the
//! source's series limit, samples appended with `COPY … (FORMAT binary)` — a series' several samples of one hour
//! as a block row, a lone one as a plain row (`copy_samples`; SQL reads both through `samples_in(from, to)`) —,
//! the batch's time range queued for the rollup job, then each series' latest value written by [`latest`]
//! together with those of batches committed meanwhile; a batch reaching further than `storage.out_of_order_window` behind
//! the compacted tier is refused whole, [`TooLate`]) and leave through [`Store::current_values`], the query engine
//! (`query/`, which also reads the rollup tiers of `rollup.rs`) and [`chunk::points`] (rows and the compacted
//! chunks of `chunk/`, which closed hours older than the hot window move into). `samples` is partitioned by hour,
//! the other tables by day or month; [`Store::ensure_partitions`] creates partitions as data arrives (made apart,
//! then attached, so no reader or writer waits for it), compaction
//! drops the hours it emptied, and [`Store::apply_retention`] drops whole partitions that fall out of their
//! retention period.

pub mod chunk;
pub mod health;
pub mod latest;
pub mod mcp;
pub mod query;
pub mod rollup;

use anyhow::Context;
use app::types::{CurrentValue, MetricCatalog};
use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc,
};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Label sets, ordered so equal sets serialise identically: plain ([`Labels`]) and checked ([`LabelSet`]).
pub use crate::names::{LabelSet, Labels, MetricName, NameError, SourceId};

/// One value of one series at one instant. Its names were parsed where it entered (see `names`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: MetricName,
    pub source: SourceId,
    pub labels: LabelSet,
    pub ts: DateTime<Utc>,
    pub value: f64,
}

impl Sample {
    /// A sample of `source` from parts as they arrived: the metric name and the labels are parsed here.
    pub fn parse(
        metric: &str,
        source: &SourceId,
        labels: Labels,
        ts: DateTime<Utc>,
        value: f64,
    ) -> Result<Sample, NameError> {
        Ok(Sample {
            metric: MetricName::parse(metric)?,
            source: source.clone(),
            labels: LabelSet::parse(labels)?,
            ts,
            value,
        })
    }
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
/// Sources pushes may create before a new one is refused.
pub const DEFAULT_MAX_SOURCES: usize = 1_000;
/// Series ids kept in memory at most (about 200 bytes each); beyond it the cache starts over.
pub const MAX_CACHED_SERIES: usize = 1_000_000;

/// A push that would create a source beyond `ingest.max_sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLimit {
    pub limit: usize,
}

impl std::fmt::Display for SourceLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mcpulse already stores {} sources (ingest.max_sources); push under an existing source id",
            self.limit
        )
    }
}

pub struct Store {
    pool: PgPool,
    max_series_per_source: usize,
    series_per_source: Mutex<HashMap<String, usize>>,
    rejected_samples: AtomicU64,
    /// Samples committed since start.
    stored_samples: AtomicU64,
    /// Series ids already known, so steady-state writes skip the upsert.
    series: Mutex<HashMap<SeriesKey, i64>>,
    /// Latest values of committed batches on their way to `series` (see [`latest`]).
    latest: latest::Latest,
    /// Partitions known to exist, per table (read from the catalog on first use).
    partitions: Mutex<HashMap<&'static str, Periods>>,
    /// When compaction last took rows of each hour of `samples` (database time, after the commit; `None` until
    /// that time is read).
    emptied: Mutex<BTreeMap<NaiveDateTime, Option<DateTime<Utc>>>>,
    /// Days merged into a table apart that waits to take the place of the day's chunk partition, with the time
    /// merged until and the database time after the merge committed (see `chunk`).
    merged_days: Mutex<BTreeMap<NaiveDateTime, (DateTime<Utc>, DateTime<Utc>)>>,
    /// Database time when this process first dropped emptied partitions (see `chunk`).
    first_reclaim: Mutex<Option<DateTime<Utc>>>,
    max_sources: usize,
    /// Every source id with series (read once, then kept), for the source limit.
    sources: tokio::sync::Mutex<Option<HashSet<String>>>,
    /// How far behind the compaction watermark a late sample is still taken.
    out_of_order: Duration,
    /// Whether minute rollups are kept for compacted hours (they outlive the samples: `storage.rollup_1m_retention`
    /// beyond `storage.retention`); otherwise compaction drops them and minute steps read the chunks.
    minutes_outlive_samples: bool,
    /// The compaction watermark in ms as last read or advanced ([`WATERMARK_UNREAD`] before the first write,
    /// [`WATERMARK_NONE`] while nothing is compacted).
    watermark_ms: std::sync::atomic::AtomicI64,
    /// `compaction_state.days_merged` in ms as last read or advanced (read with the watermark; [`WATERMARK_NONE`]
    /// while nothing is merged): no late sample is taken before it, as its hours' chunks are merged.
    merged_ms: std::sync::atomic::AtomicI64,
}

const WATERMARK_UNREAD: i64 = i64::MIN;
const WATERMARK_NONE: i64 = i64::MIN + 1;
/// Late samples are taken this far behind the compaction watermark unless configured otherwise.
pub const DEFAULT_OUT_OF_ORDER_WINDOW: Duration = Duration::from_secs(3600);

/// A batch holding a sample older than the out-of-order window allows: refused whole, nothing stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLate {
    pub ts: DateTime<Utc>,
    pub oldest: DateTime<Utc>,
    pub window: Duration,
}

impl std::fmt::Display for TooLate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a sample at {} is older than {}, the oldest time still taken: storage.out_of_order_window ({}) \
             behind the compacted tier",
            self.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.oldest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            humantime::format_duration(self.window)
        )
    }
}

impl std::error::Error for TooLate {}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self::with_series_limit(pool, DEFAULT_MAX_SERIES_PER_SOURCE)
    }

    pub fn with_series_limit(pool: PgPool, max_series_per_source: usize) -> Self {
        Self::with_limits(pool, max_series_per_source, DEFAULT_MAX_SOURCES)
    }

    /// A store refusing new series of a source beyond `max_series_per_source` and new pushed sources beyond
    /// `max_sources`.
    pub fn with_limits(pool: PgPool, max_series_per_source: usize, max_sources: usize) -> Self {
        Store {
            max_sources,
            sources: tokio::sync::Mutex::new(None),
            pool,
            max_series_per_source,
            series_per_source: Mutex::new(HashMap::new()),
            rejected_samples: AtomicU64::new(0),
            stored_samples: AtomicU64::new(0),
            series: Mutex::new(HashMap::new()),
            latest: latest::Latest::default(),
            partitions: Mutex::new(HashMap::new()),
            emptied: Mutex::new(BTreeMap::new()),
            merged_days: Mutex::new(BTreeMap::new()),
            first_reclaim: Mutex::new(None),
            out_of_order: DEFAULT_OUT_OF_ORDER_WINDOW,
            minutes_outlive_samples: false,
            watermark_ms: std::sync::atomic::AtomicI64::new(WATERMARK_UNREAD),
            merged_ms: std::sync::atomic::AtomicI64::new(WATERMARK_NONE),
        }
    }

    /// Takes late samples up to `window` behind the compaction watermark (`storage.out_of_order_window`).
    pub fn with_out_of_order_window(mut self, window: Duration) -> Self {
        self.out_of_order = window;
        self
    }

    /// Keeps the minute rollups of compacted hours (when they are to outlive the samples, see
    /// [`Retention::minutes_outlive_samples`]) instead of dropping them once the chunks answer for those hours.
    pub fn with_minutes_outliving_samples(mut self, keep: bool) -> Self {
        self.minutes_outlive_samples = keep;
        self
    }

    /// Whether minute rollups are kept for compacted hours (see [`Store::with_minutes_outliving_samples`]).
    pub fn minutes_outlive_samples(&self) -> bool {
        self.minutes_outlive_samples
    }

    /// The oldest sample time a write still takes (`None`: nothing is compacted, any time is taken).
    async fn oldest_accepted(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut ms = self.watermark_ms.load(Ordering::Acquire);
        if ms == WATERMARK_UNREAD {
            let (watermark, merged): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
                sqlx::query_as("SELECT watermark, days_merged FROM compaction_state")
                    .fetch_optional(&self.pool)
                    .await?
                    .unwrap_or_default();
            if let Some(merged) = merged {
                self.advanced_merge(merged);
            }
            ms = watermark.map_or(WATERMARK_NONE, |w| w.timestamp_millis());
            // A compaction may have advanced it meanwhile: keep the later.
            ms = self.watermark_ms.fetch_max(ms, Ordering::AcqRel).max(ms);
        }
        if ms == WATERMARK_NONE {
            return Ok(None);
        }
        let window = chrono::Duration::from_std(self.out_of_order).unwrap_or_default();
        // Merged hours take no late sample even when the window grew since they were merged.
        let merged = DateTime::from_timestamp_millis(self.merged_ms.load(Ordering::Acquire));
        Ok(DateTime::from_timestamp_millis(ms)
            .map(|w| (w - window).max(merged.unwrap_or(w - window))))
    }

    /// Records the time before which every chunk is merged (`compaction_state.days_merged`).
    fn advanced_merge(&self, to: DateTime<Utc>) {
        self.merged_ms
            .fetch_max(to.timestamp_millis(), Ordering::AcqRel);
    }

    /// Records a watermark compaction advanced to.
    fn advanced_watermark(&self, to: DateTime<Utc>) {
        self.watermark_ms
            .fetch_max(to.timestamp_millis(), Ordering::AcqRel);
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes latest values a failed update left pending (see [`latest`]); a no-op when none waits.
    pub async fn flush_latest(&self) -> anyhow::Result<()> {
        self.latest.flush(&self.pool).await
    }

    /// Stores a batch durably (returns after commit). Samples of new series beyond the per-source series limit are
    /// left out and counted (a cardinality bomb is cut off while existing series keep flowing).
    pub async fn write(&self, samples: &[Sample]) -> anyhow::Result<WriteOutcome> {
        if samples.is_empty() {
            return Ok(WriteOutcome::default());
        }
        // One key per distinct series (a batch is mostly many points of fewer series): no copy per sample.
        let mut keys: Vec<SeriesKey> = Vec::new();
        let mut distinct: HashMap<(&str, &str, &Labels), usize> = HashMap::new();
        let mut key_of: Vec<usize> = Vec::with_capacity(samples.len());
        let mut previous: Option<(&Sample, usize)> = None;
        for s in samples {
            // A sample sharing the previous one's names (a decoder's clones) is of the same series: no hashing.
            if let Some((p, key)) = previous {
                if p.metric.same(&s.metric) && p.labels.same(&s.labels) && p.source.same(&s.source)
                {
                    key_of.push(key);
                    continue;
                }
            }
            let key = *distinct
                .entry((s.metric.as_str(), s.source.as_str(), &*s.labels))
                .or_insert_with(|| {
                    keys.push(SeriesKey {
                        metric: s.metric.to_string(),
                        source: s.source.to_string(),
                        labels: serde_json::to_string(&s.labels).unwrap_or_else(|_| "{}".into()),
                    });
                    keys.len() - 1
                });
            key_of.push(key);
            previous = Some((s, key));
        }
        drop(distinct);
        let ids = self.series_ids(&keys).await?;
        let mut kept_ids = Vec::with_capacity(samples.len());
        let mut ts = Vec::with_capacity(samples.len());
        let mut values = Vec::with_capacity(samples.len());
        for (sample, key) in samples.iter().zip(&key_of) {
            if let Some(id) = &ids[*key] {
                kept_ids.push(*id);
                // Stored to the millisecond, as Prometheus does: what the compacted tier keeps bit for bit.
                ts.push(to_millis(sample.ts));
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
        let (first, last) = ts
            .iter()
            .fold((ts[0], ts[0]), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
        // Older than the compacted tier's watermark a sample is late (kept as a row, merged into its chunk by the
        // next compaction); beyond the out-of-order window behind it, the batch is refused whole.
        if let Some(oldest) = self.oldest_accepted().await? {
            if first < oldest {
                return Err(TooLate {
                    ts: first,
                    oldest,
                    window: self.out_of_order,
                }
                .into());
            }
        }
        self.ensure_partitions(
            SAMPLES,
            ts.iter().map(|t| SAMPLES.start_of(t.naive_utc())).collect(),
        )
        .await?;

        let copy = copy_samples(&kept_ids, &ts, &values);
        let mut tx = self.pool.begin().await?;
        // COPY in binary format: measured faster here than one INSERT … SELECT FROM UNNEST (see `mcpulse-bench ingest`).
        let mut sink = tx
            .copy_in_raw(
                "COPY samples (series_id, ts, value, block_ts, block_values) FROM STDIN (FORMAT binary)",
            )
            .await
            .context("starting the sample copy")?;
        sink.send(copy).await.context("copying samples")?;
        sink.finish().await.context("finishing the sample copy")?;
        // The batch's time range goes to the rollup job in the same transaction, so rollups never miss a sample.
        sqlx::query("INSERT INTO rollup_pending (from_ts, to_ts) VALUES ($1, $2)")
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await
            .context("queueing the batch for the rollups")?;
        tx.commit().await?;
        // Each series' latest value, written after the commit together with those of batches arriving meanwhile.
        self.latest
            .record(&self.pool, &kept_ids, &ts, &values)
            .await;
        self.stored_samples
            .fetch_add(kept_ids.len() as u64, Ordering::Relaxed);
        Ok(WriteOutcome {
            stored: kept_ids.len(),
            rejected,
        })
    }

    /// Admits a pushed source: an existing one always, a new one while fewer than `ingest.max_sources` exist (it
    /// counts from now on, even before its first sample is stored).
    pub async fn admit_source(&self, source: &SourceId) -> anyhow::Result<Result<(), SourceLimit>> {
        let mut sources = self.sources.lock().await;
        if sources.is_none() {
            let all: Vec<String> = sqlx::query_scalar("SELECT DISTINCT source FROM series")
                .fetch_all(&self.pool)
                .await
                .context("reading the source ids")?;
            *sources = Some(all.into_iter().collect());
        }
        let known = sources.get_or_insert_with(HashSet::new);
        if known.contains(source.as_str()) {
            return Ok(Ok(()));
        }
        if known.len() >= self.max_sources {
            return Ok(Err(SourceLimit {
                limit: self.max_sources,
            }));
        }
        known.insert(source.to_string());
        Ok(Ok(()))
    }

    /// Samples committed since start.
    pub fn stored_samples(&self) -> u64 {
        self.stored_samples.load(Ordering::Relaxed)
    }

    /// Samples left out so far because their source hit the series limit.
    pub fn rejected_samples(&self) -> u64 {
        self.rejected_samples.load(Ordering::Relaxed)
    }

    /// The series id of every key, creating series as needed within the per-source limit (`None`: over it).
    async fn series_ids(&self, keys: &[SeriesKey]) -> anyhow::Result<Vec<Option<i64>>> {
        // The ids of this batch are collected here, not read back from the shared cache (which another writer may
        // clear meanwhile).
        let mut found: HashMap<SeriesKey, i64> = HashMap::new();
        let missing: Vec<SeriesKey> = {
            let known = lock(&self.series);
            let mut seen = HashSet::new();
            keys.iter()
                .filter(|k| match known.get(*k) {
                    Some(id) => {
                        found.insert((*k).clone(), *id);
                        false
                    }
                    None => seen.insert(*k),
                })
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            // Series that exist already (e.g. created before a restart) never count against the limit.
            found.extend(self.load_ids(&missing).await?);
            let new: Vec<SeriesKey> = missing
                .into_iter()
                .filter(|k| !found.contains_key(k))
                .collect();
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
                // In key order: concurrent inserts of the same new series wait for each other instead of
                // deadlocking on the unique index; the loser of each race reuses the winner's row.
                allowed.sort_unstable_by(|a, b| {
                    (&a.metric, &a.source, &a.labels).cmp(&(&b.metric, &b.source, &b.labels))
                });
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
                found.extend(self.load_ids(&allowed).await?);
            }
        }
        Ok(keys.iter().map(|k| found.get(k).copied()).collect())
    }

    /// Reads the ids of existing series among `keys`, keeps them in the cache and returns them.
    async fn load_ids(&self, keys: &[SeriesKey]) -> anyhow::Result<Vec<(SeriesKey, i64)>> {
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
        let ids: Vec<(SeriesKey, i64)> = rows
            .into_iter()
            .filter_map(|(ordinal, id)| {
                let key = usize::try_from(ordinal - 1)
                    .ok()
                    .and_then(|i| keys.get(i))?;
                Some((key.clone(), id))
            })
            .collect();
        let mut known = lock(&self.series);
        if known.len() + ids.len() > MAX_CACHED_SERIES {
            // Bounded memory: start over (ids are read again from the database as series are written).
            tracing::info!(
                cached = known.len(),
                limit = MAX_CACHED_SERIES,
                "series id cache full; cleared"
            );
            known.clear();
        }
        known.extend(ids.iter().cloned());
        Ok(ids)
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

    /// Creates the partitions of `table` holding `times` that do not exist yet.
    pub async fn ensure_partitions(
        &self,
        table: Partitioned,
        times: HashSet<NaiveDateTime>,
    ) -> anyhow::Result<()> {
        if !lock(&self.partitions).contains_key(table.table) {
            let known: Periods = self
                .partitions_of(table)
                .await?
                .into_iter()
                .map(|(_, start, end)| (start, end))
                .collect();
            lock(&self.partitions).entry(table.table).or_insert(known);
        }
        let missing: Vec<NaiveDateTime> = {
            let known = lock(&self.partitions);
            let known = &known[table.table];
            let starts: HashSet<NaiveDateTime> =
                times.into_iter().map(|t| table.start_of(t)).collect();
            starts.into_iter().filter(|t| !covers(known, *t)).collect()
        };
        for start in missing {
            let next = table.next(start).context("date out of range")?;
            let name = table.name(start);
            let mut tx = self.pool.begin().await?;
            // Two writers creating the same partition at once would otherwise race in the catalog.
            sqlx::query("SELECT pg_advisory_xact_lock(7415001)")
                .execute(&mut *tx)
                .await?;
            let attached: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                WHERE c.relname = $1 AND i.inhparent = $2::regclass)",
            )
            .bind(&name)
            .bind(table.table)
            .fetch_one(&mut *tx)
            .await?;
            if !attached {
                // Made apart, then attached: `ATTACH PARTITION` holds the parent in SHARE UPDATE EXCLUSIVE mode,
                // which neither readers nor writers wait for (`CREATE TABLE … PARTITION OF` takes it
                // exclusively: it queues behind a long read, such as a rollup fold, and every writer behind it).
                // The partition's indexes are made by the attach (on an empty table, at once).
                for sql in [
                    format!(
                        "CREATE TABLE IF NOT EXISTS {name} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
                         INCLUDING STORAGE)",
                        table.table
                    ),
                    format!(
                        "ALTER TABLE {} ATTACH PARTITION {name} FOR VALUES FROM ('{}Z') TO ('{}Z')",
                        table.table,
                        start.format("%Y-%m-%dT%H:%M:%S"),
                        next.format("%Y-%m-%dT%H:%M:%S"),
                    ),
                ] {
                    sqlx::query(&sql)
                        .execute(&mut *tx)
                        .await
                        .with_context(|| format!("creating partition {name}"))?;
                }
            }
            tx.commit().await?;
            lock(&self.partitions)
                .entry(table.table)
                .or_default()
                .insert(start, next);
        }
        Ok(())
    }

    /// The partitions of `table` in the catalog: name and period `[start, end)`.
    async fn partitions_of(
        &self,
        table: Partitioned,
    ) -> anyhow::Result<Vec<(String, NaiveDateTime, NaiveDateTime)>> {
        partitions_in(&self.pool, table).await
    }

    /// Forgets a dropped partition.
    fn forget_partition(&self, table: Partitioned, start: NaiveDateTime) {
        if let Some(known) = lock(&self.partitions).get_mut(table.table) {
            known.remove(&start);
        }
    }

    /// Drops every partition (of samples and of each rollup tier) whose whole period is older than its retention.
    /// Returns the dropped names.
    pub async fn apply_retention(
        &self,
        now: DateTime<Utc>,
        retention: &Retention,
    ) -> anyhow::Result<Vec<String>> {
        let mut dropped = Vec::new();
        for (table, keep) in [
            (SAMPLES, retention.samples),
            (CHUNKS, retention.samples),
            (ROLLUP_1M, retention.rollup_1m),
            (ROLLUP_1H, retention.rollup_1h),
        ] {
            let cutoff = (now - chrono::Duration::from_std(keep)?).naive_utc();
            for (name, start, end) in self.partitions_of(table).await? {
                if end <= cutoff {
                    sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                        .execute(&self.pool)
                        .await?;
                    self.forget_partition(table, start);
                    tracing::info!(partition = %name, "retention dropped a partition");
                    dropped.push(name);
                }
            }
        }
        Ok(dropped)
    }

    /// Every metric with the sources that report it and the label names its series carry, by metric name.
    pub async fn catalog(&self) -> anyhow::Result<Vec<MetricCatalog>> {
        let rows: Vec<(String, Vec<String>, Vec<String>, i64)> = sqlx::query_as(
            "SELECT s.metric, array_agg(DISTINCT s.source ORDER BY s.source),
                    COALESCE((SELECT array_agg(DISTINCT k ORDER BY k)
                              FROM series s2, jsonb_object_keys(s2.labels) AS k
                              WHERE s2.metric = s.metric), '{}'),
                    count(*)
             FROM series s GROUP BY s.metric ORDER BY s.metric",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(metric, sources, labels, series)| MetricCatalog {
                metric,
                sources,
                labels,
                series,
            })
            .collect())
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
}

/// Samples of one series and hour that a batch brings together are stored as one block row of at most this many
/// (two arrays of 100 values keep a row below PostgreSQL's 2 kB TOAST threshold: stored inline, uncompressed).
pub const BLOCK_SAMPLES: usize = 100;

/// A batch as `samples` rows in PostgreSQL's binary COPY format, columns `(series_id, ts, value, block_ts,
/// block_values)`: the samples of each series and hour in time order (equal times keep the batch's order), several
/// as block rows of up to [`BLOCK_SAMPLES`] (the first sample also in `ts`/`value`), a lone one as a plain row.
fn copy_samples(ids: &[i64], ts: &[DateTime<Utc>], values: &[f64]) -> Vec<u8> {
    const TIMESTAMPTZ_OID: u32 = 1184;
    const FLOAT8_OID: u32 = 701;
    let micros: Vec<i64> = ts
        .iter()
        .map(|t| t.timestamp_micros() - PG_EPOCH_MICROS)
        .collect();
    let hour = |i: usize| micros[i].div_euclid(3_600_000_000);
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    // Stable: samples of the same series and instant keep the order they were sent in.
    order.sort_by_key(|&i| {
        let i = i as usize;
        (ids[i], hour(i), micros[i])
    });
    let mut out = Vec::with_capacity(19 + ids.len() * 24 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let field = |out: &mut Vec<u8>, bytes: [u8; 8]| {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&bytes);
    };
    let array =
        |out: &mut Vec<u8>, oid: u32, items: &mut dyn Iterator<Item = [u8; 8]>, n: usize| {
            out.extend_from_slice(&(20 + 12 * n as i32).to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes()); // dimensions
            out.extend_from_slice(&0i32.to_be_bytes()); // no NULLs
            out.extend_from_slice(&oid.to_be_bytes());
            out.extend_from_slice(&(n as i32).to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
            for item in items {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&item);
            }
        };
    for run in order.chunk_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        ids[a] == ids[b] && hour(a) == hour(b)
    }) {
        for block in run.chunks(BLOCK_SAMPLES) {
            let first = block[0] as usize;
            out.extend_from_slice(&5i16.to_be_bytes());
            field(&mut out, ids[first].to_be_bytes());
            field(&mut out, micros[first].to_be_bytes());
            field(&mut out, values[first].to_be_bytes());
            if block.len() == 1 {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                out.extend_from_slice(&(-1i32).to_be_bytes());
            } else {
                let n = block.len();
                array(
                    &mut out,
                    TIMESTAMPTZ_OID,
                    &mut block.iter().map(|&i| micros[i as usize].to_be_bytes()),
                    n,
                );
                array(
                    &mut out,
                    FLOAT8_OID,
                    &mut block.iter().map(|&i| values[i as usize].to_be_bytes()),
                    n,
                );
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// PostgreSQL timestamps count microseconds from 2000-01-01T00:00:00Z.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Rows `(series_id, ts, value)` in PostgreSQL's binary COPY format.
pub fn copy_binary(ids: &[i64], ts: &[DateTime<Utc>], values: &[f64]) -> Vec<u8> {
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

/// `t` without its sub-millisecond part.
fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
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

/// How long each kind of stored data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub samples: Duration,
    pub rollup_1m: Duration,
    pub rollup_1h: Duration,
}

impl Retention {
    /// Whether minute rollups are kept longer than the samples (so compaction must not drop them).
    pub fn minutes_outlive_samples(&self) -> bool {
        self.rollup_1m > self.samples
    }

    /// Keeps everything for the same time.
    pub fn all(keep: Duration) -> Self {
        Retention {
            samples: keep,
            rollup_1m: keep,
            rollup_1h: keep,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Hour,
    Day,
    Month,
}

/// A table partitioned by time into hours (named `<table>_p<YYYYMMDDHH>`), days or months (`<table>_p<YYYYMMDD>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitioned {
    pub table: &'static str,
    period: Period,
}

/// Raw rows, by hour: compaction empties an hour's partition and then drops it (see `chunk`). Partitions made
/// when samples were partitioned by day keep their day.
pub const SAMPLES: Partitioned = Partitioned {
    table: "samples",
    period: Period::Hour,
};
/// Compacted chunks, by day of their start (see `chunk`).
pub const CHUNKS: Partitioned = Partitioned {
    table: "sample_chunks",
    period: Period::Day,
};
/// Minute rollups, by hour: compaction drops the hours whose chunks answer for them (unless minutes outlive the
/// samples). Partitions made when they were partitioned by day keep their day.
pub const ROLLUP_1M: Partitioned = Partitioned {
    table: "rollup_1m",
    period: Period::Hour,
};
pub const ROLLUP_1H: Partitioned = Partitioned {
    table: "rollup_1h",
    period: Period::Month,
};

/// Partition periods by start: the end of each.
type Periods = BTreeMap<NaiveDateTime, NaiveDateTime>;

impl Partitioned {
    /// The start of the partition holding `t`.
    pub fn start_of(self, t: NaiveDateTime) -> NaiveDateTime {
        let day = t.date();
        match self.period {
            Period::Hour => {
                day.and_time(NaiveTime::from_hms_opt(t.hour(), 0, 0).unwrap_or_default())
            }
            Period::Day => day.and_time(NaiveTime::MIN),
            Period::Month => day.with_day(1).unwrap_or(day).and_time(NaiveTime::MIN),
        }
    }

    /// The start of the next partition.
    fn next(self, start: NaiveDateTime) -> Option<NaiveDateTime> {
        match self.period {
            Period::Hour => start.checked_add_signed(chrono::TimeDelta::hours(1)),
            Period::Day => start.checked_add_days(Days::new(1)),
            Period::Month => start.checked_add_months(Months::new(1)),
        }
    }

    fn name(self, start: NaiveDateTime) -> String {
        match self.period {
            Period::Hour => format!("{}_p{}", self.table, start.format("%Y%m%d%H")),
            Period::Day | Period::Month => format!("{}_p{}", self.table, start.format("%Y%m%d")),
        }
    }

    /// The period `[start, end)` of the partition named `name`: a day for a name without an hour (an hourly
    /// table's partitions made before it was hourly).
    fn parse(self, name: &str) -> Option<(NaiveDateTime, NaiveDateTime)> {
        let rest = name.strip_prefix(self.table)?.strip_prefix("_p")?;
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let day = NaiveDate::parse_from_str(rest.get(..8)?, "%Y%m%d").ok()?;
        match (rest.len(), self.period) {
            (10, Period::Hour) => {
                let hour = NaiveTime::from_hms_opt(rest[8..].parse().ok()?, 0, 0)?;
                let start = day.and_time(hour);
                Some((start, self.next(start)?))
            }
            (8, Period::Hour | Period::Day) => {
                let start = day.and_time(NaiveTime::MIN);
                Some((start, start.checked_add_days(Days::new(1))?))
            }
            (8, Period::Month) => {
                let start = day.and_time(NaiveTime::MIN);
                Some((start, self.next(start)?))
            }
            _ => None,
        }
    }
}

/// The partitions of `table` in the catalog as `executor` sees it: name and period `[start, end)`.
async fn partitions_in<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    table: Partitioned,
) -> anyhow::Result<Vec<(String, NaiveDateTime, NaiveDateTime)>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1",
    )
    .bind(table.table)
    .fetch_all(executor)
    .await?;
    Ok(names
        .into_iter()
        .filter_map(|name| {
            let (start, end) = table.parse(&name)?;
            Some((name, start, end))
        })
        .collect())
}

/// Whether some partition of `known` holds `t`.
fn covers(known: &Periods, t: NaiveDateTime) -> bool {
    known
        .range(..=t)
        .next_back()
        .is_some_and(|(_, end)| *end > t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let at = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 11, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let hour = SAMPLES.start_of(at(24, 13) + chrono::TimeDelta::minutes(59));
        assert_eq!(hour, at(24, 13));
        assert_eq!(SAMPLES.name(hour), "samples_p2026112413");
        assert_eq!(
            SAMPLES.parse("samples_p2026112413"),
            Some((hour, at(24, 14)))
        );
        assert_eq!(
            SAMPLES.parse("samples_p2026112423"),
            Some((at(24, 23), at(25, 0)))
        );
        // A day partition from before samples were partitioned by hour.
        assert_eq!(
            SAMPLES.parse("samples_p20261124"),
            Some((at(24, 0), at(25, 0)))
        );
        assert_eq!(SAMPLES.parse("samples_p2026112424"), None);
        assert_eq!(SAMPLES.parse("samples_default"), None);
        assert_eq!(SAMPLES.parse("rollup_1m_p20261124"), None);
        assert_eq!(
            CHUNKS.name(CHUNKS.start_of(hour)),
            "sample_chunks_p20261124"
        );
        assert_eq!(CHUNKS.parse("sample_chunks_p2026112413"), None);
        let month = ROLLUP_1H.start_of(hour);
        assert_eq!(ROLLUP_1H.name(month), "rollup_1h_p20261101");
        assert_eq!(
            ROLLUP_1H.parse("rollup_1h_p20261101"),
            Some((month, at(1, 0) + Months::new(1)))
        );
        let known: Periods = [(at(24, 0), at(25, 0)), (at(25, 3), at(25, 4))].into();
        assert!(covers(&known, at(24, 13)) && covers(&known, at(25, 3)));
        assert!(
            !covers(&known, at(25, 0)) && !covers(&known, at(25, 4)) && !covers(&known, at(23, 23))
        );
    }
}
