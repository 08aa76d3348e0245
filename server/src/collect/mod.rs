//! Collection: every source implements [`Source`]; a scheduler task per source calls it every interval (never
//! overlapping, each call under a timeout), turns the [`Snapshot`] into samples, stores them durably, then
//! announces them to live clients. A failed or timed-out round records `up = 0` for the source.
//!
//! Sources are added and removed while mcpulse runs: each has its own task under a child of the collector's
//! cancellation token, so [`Collector::remove`] stops one source (abandoning its round in flight) and
//! [`Collector::replace`] swaps a definition without two rounds of the same source ever overlapping. Which sources
//! exist, and where they are declared, is decided by [`manage::SourceRegistry`].
//!
//! Kinds live in their own modules (`self_source`, `prometheus`, and `probe` for MCP servers).

pub mod explain;
pub mod fields;
pub mod manage;
pub mod mcp;
pub mod otlp;
pub mod prometheus;
pub mod push;
pub mod self_source;
pub mod spec;

use crate::clock::Clock;
use crate::live::Hub;
use crate::store::{LabelSet, Labels, MetricName, Sample, SourceId, Store, WriteOutcome};
use app::types::{LiveMessage, LiveSamples, SourceOrigin, SourceStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Describes a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub id: SourceId,
    pub name: String,
    pub kind: String,
    pub description: String,
}

/// One value of a metric, with labels of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
    /// When the value was observed, if the source says so; otherwise the snapshot's timestamp.
    pub timestamp: Option<DateTime<Utc>>,
}

impl Metric {
    pub fn new(name: &str, value: f64) -> Self {
        Metric {
            name: name.to_string(),
            labels: Labels::new(),
            value,
            timestamp: None,
        }
    }
}

/// What one collection round returns. `labels` apply to every metric of the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub timestamp: DateTime<Utc>,
    pub source_id: SourceId,
    pub metrics: Vec<Metric>,
    pub labels: Labels,
    /// Set when the round failed although it measured something (a probe that could not connect still counts
    /// the attempt): the metrics are stored, the source is down with this error.
    pub error: Option<String>,
    /// A problem shown while the source stays up (e.g. a tool call failed).
    pub warning: Option<String>,
}

impl Snapshot {
    /// A successful round's snapshot.
    pub fn new(
        timestamp: DateTime<Utc>,
        source_id: &SourceId,
        metrics: Vec<Metric>,
        labels: Labels,
    ) -> Self {
        Snapshot {
            timestamp,
            source_id: source_id.clone(),
            metrics,
            labels,
            error: None,
            warning: None,
        }
    }
}

impl Snapshot {
    /// The snapshot's samples, their names and labels parsed (see `names`): the metrics that do not parse are
    /// left out, counted, and the first one's problem said.
    pub fn into_samples(self) -> (Vec<Sample>, Option<(usize, String)>) {
        let Snapshot {
            timestamp,
            source_id,
            metrics,
            labels,
            ..
        } = self;
        let mut refused: Option<(usize, String)> = None;
        let samples = metrics
            .into_iter()
            .filter_map(|m| {
                let mut all = labels.clone();
                all.extend(m.labels);
                let ts = m.timestamp.unwrap_or(timestamp);
                match Sample::parse(&m.name, &source_id, all, ts, m.value) {
                    Ok(sample) => Some(sample),
                    Err(e) => {
                        let (count, _) =
                            refused.get_or_insert_with(|| (0, format!("{}: {e}", m.name)));
                        *count += 1;
                        None
                    }
                }
            })
            .collect();
        (samples, refused)
    }
}

/// What a round may know about its circumstances.
#[derive(Debug, Clone)]
pub struct CollectContext {
    /// The instant the round is taken for (by `clock`).
    pub now: DateTime<Utc>,
    /// The collector's clock, for what a source decides by time passed (a probe's reconnection back-off).
    pub clock: Clock,
    /// How long the round may take before it is abandoned.
    pub timeout: Duration,
}

/// A source of metrics. Implement it to add your own (see README, "Custom sources").
#[async_trait]
pub trait Source: Send + Sync + 'static {
    fn info(&self) -> SourceInfo;
    async fn collect(&self, ctx: &CollectContext) -> anyhow::Result<Snapshot>;
}

/// When and how long a source runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    /// At most the interval, so rounds never overlap.
    pub timeout: Duration,
}

impl Schedule {
    pub fn every(interval: Duration) -> Self {
        Schedule {
            interval,
            timeout: interval,
        }
    }
}

/// The outcome of the latest rounds of one source.
#[derive(Debug, Clone, Default)]
struct Health {
    up: Option<bool>,
    last_scrape: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_duration: Option<Duration>,
    last_samples: usize,
}

struct Scheduled {
    source: Arc<dyn Source>,
    info: SourceInfo,
    schedule: Schedule,
    health: Mutex<Health>,
    /// A child of the collector's token: cancelled to stop this source alone.
    cancel: CancellationToken,
}

/// A registered source and the task that runs it.
struct Running {
    scheduled: Arc<Scheduled>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs every registered source on its own schedule and keeps its health.
pub struct Collector {
    /// Samples older than this (the retention period) are dropped: they would be deleted at once.
    max_age: Duration,
    store: Arc<Store>,
    hub: Arc<Hub>,
    stop: CancellationToken,
    sources: Mutex<BTreeMap<SourceId, Running>>,
    /// Sources that push (no schedule): health by source id.
    pushed: Mutex<BTreeMap<SourceId, Health>>,
    /// Writes of collected rounds. A write runs in its own task so cancelling a round (removing or replacing its
    /// source, shutting down) never cancels a write that has begun; [`Collector::join`] waits for them.
    writes: tokio_util::task::TaskTracker,
    /// The time rounds are taken for and pushes recorded at.
    pub clock: Clock,
}

impl Collector {
    pub fn new(
        store: Arc<Store>,
        hub: Arc<Hub>,
        stop: CancellationToken,
        max_age: Duration,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(Collector {
            clock,
            max_age,
            store,
            hub,
            stop,
            sources: Mutex::new(BTreeMap::new()),
            pushed: Mutex::new(BTreeMap::new()),
            writes: tokio_util::task::TaskTracker::new(),
        })
    }

    /// Registers `source` and starts collecting it. Refuses a second source with the same id.
    pub fn add(
        self: &Arc<Self>,
        source: Arc<dyn Source>,
        schedule: Schedule,
    ) -> anyhow::Result<()> {
        let info = source.info();
        let mut sources = lock(&self.sources);
        if sources.contains_key(&info.id) {
            anyhow::bail!("a source with id `{}` already exists", info.id);
        }
        let scheduled = Arc::new(Scheduled {
            source,
            info: info.clone(),
            schedule,
            health: Mutex::new(Health::default()),
            cancel: self.stop.child_token(),
        });
        let task = tokio::spawn(self.clone().run(scheduled.clone()));
        sources.insert(info.id.clone(), Running { scheduled, task });
        // An id that was pushed to before now belongs to the scheduled source.
        lock(&self.pushed).remove(info.id.as_str());
        Ok(())
    }

    /// Stops and forgets source `id`, abandoning a round in flight; returns once its task has ended, so no round of
    /// it runs afterwards. Whether it existed.
    pub async fn remove(&self, id: &str) -> bool {
        let Some(running) = lock(&self.sources).remove(id) else {
            return false;
        };
        running.scheduled.cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(5), running.task)
            .await
            .is_err()
        {
            tracing::warn!(source = %id, "source task did not stop within 5 s");
        }
        true
    }

    /// Replaces source `id` (if any) by `source`: the old task has ended before the new one starts, so rounds of
    /// the two never overlap. The health starts afresh.
    pub async fn replace(
        self: &Arc<Self>,
        id: &str,
        source: Arc<dyn Source>,
        schedule: Schedule,
    ) -> anyhow::Result<()> {
        self.remove(id).await;
        self.add(source, schedule)
    }

    /// Calls the source every interval until the source or the collector is stopped.
    async fn run(self: Arc<Self>, scheduled: Arc<Scheduled>) {
        let mut ticks = tokio::time::interval(scheduled.schedule.interval);
        // A slow round delays the next instead of bunching rounds up: rounds never overlap.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = scheduled.cancel.cancelled() => break,
                _ = ticks.tick() => {}
            }
            tokio::select! {
                _ = scheduled.cancel.cancelled() => break,
                _ = self.round(&scheduled) => {}
            }
        }
    }

    /// Every source with its health, ordered by id.
    pub fn statuses(&self) -> Vec<SourceStatus> {
        let mut all = self.scheduled_statuses();
        all.extend(lock(&self.pushed).iter().map(|(id, h)| SourceStatus {
            id: id.to_string(),
            name: id.to_string(),
            kind: "push".into(),
            description: "samples pushed to /api/v1/ingest".into(),
            interval_secs: 0.0,
            origin: SourceOrigin::Push,
            enabled: true,
            definition: None,
            up: h.up,
            last_scrape: h.last_scrape,
            last_success: h.last_success,
            last_error: h.last_error.clone(),
            last_duration_ms: h.last_duration.map(|d| d.as_secs_f64() * 1000.0),
            last_samples: h.last_samples,
        }));
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Whether `id` names a scheduled source (pushes may not use those ids).
    pub fn is_scheduled(&self, id: &str) -> bool {
        lock(&self.sources).contains_key(id)
    }

    /// Records a stored push batch as the health of source `source` and announces it to live clients.
    pub fn record_push(
        &self,
        source: &SourceId,
        samples: &[Sample],
        outcome: WriteOutcome,
        took: Duration,
    ) {
        let now = self.clock.now();
        {
            let mut pushed = lock(&self.pushed);
            let h = pushed.entry(source.clone()).or_default();
            h.up = Some(true);
            h.last_scrape = Some(now);
            h.last_success = Some(now);
            h.last_duration = Some(took);
            h.last_samples = outcome.stored;
            h.last_error = (outcome.rejected > 0).then(|| {
                format!(
                    "{} samples dropped: the source reached its series limit",
                    outcome.rejected
                )
            });
        }
        self.hub.publish(&LiveMessage::Samples(LiveSamples {
            source: source.to_string(),
            t: now.timestamp_millis(),
            values: samples
                .iter()
                .filter(|s| s.labels.is_empty())
                .map(|s| (s.metric.to_string(), s.value))
                .collect(),
        }));
    }

    fn scheduled_statuses(&self) -> Vec<SourceStatus> {
        lock(&self.sources)
            .values()
            .map(|Running { scheduled: s, .. }| {
                let h = lock(&s.health).clone();
                SourceStatus {
                    id: s.info.id.to_string(),
                    name: s.info.name.clone(),
                    kind: s.info.kind.clone(),
                    description: s.info.description.clone(),
                    interval_secs: s.schedule.interval.as_secs_f64(),
                    origin: SourceOrigin::Builtin,
                    enabled: true,
                    definition: None,
                    up: h.up,
                    last_scrape: h.last_scrape,
                    last_success: h.last_success,
                    last_error: h.last_error,
                    last_duration_ms: h.last_duration.map(|d| d.as_secs_f64() * 1000.0),
                    last_samples: h.last_samples,
                }
            })
            .collect()
    }

    /// Waits (up to 5 s each) for the source tasks to end after `stop` was cancelled.
    pub async fn join(&self) {
        let running: Vec<_> = std::mem::take(&mut *lock(&self.sources))
            .into_values()
            .collect();
        for Running { task, .. } in running {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.writes.close();
        if tokio::time::timeout(Duration::from_secs(10), self.writes.wait())
            .await
            .is_err()
        {
            tracing::warn!("collected samples were still being stored 10 s after shutdown began");
        }
    }

    /// One round: collect under the timeout, store durably, record health, then announce to live clients.
    async fn round(&self, scheduled: &Scheduled) {
        let info = &scheduled.info;
        let ctx = CollectContext {
            now: self.clock.now(),
            clock: self.clock.clone(),
            timeout: scheduled.schedule.timeout,
        };
        let started = std::time::Instant::now();
        let outcome = collect_once(scheduled.source.as_ref(), &ctx).await;
        let took = started.elapsed();
        let (samples, invalid, error, warning) = match outcome {
            Ok(mut snapshot) => {
                let (error, warning) = (snapshot.error.take(), snapshot.warning.take());
                let (samples, invalid) = snapshot.into_samples();
                (samples, invalid, error, warning)
            }
            Err(e) => (Vec::new(), None, Some(e), None),
        };
        if let Some(e) = &error {
            tracing::warn!(source = %info.id, error = %e, "collection failed");
        }
        let (mut samples, dropped) = within_window(samples, ctx.now, self.max_age);
        if dropped > 0 {
            tracing::warn!(source = %info.id, dropped, "samples outside the accepted time window were dropped");
        }
        if let Some((count, first)) = &invalid {
            tracing::warn!(source = %info.id, count, first = %first, "malformed samples were dropped");
        }
        let collected = samples.len();
        let up = if error.is_none() { 1.0 } else { 0.0 };
        samples.push(Sample {
            metric: MetricName::literal("up"),
            source: info.id.clone(),
            labels: LabelSet::default(),
            ts: ctx.now,
            value: up,
        });
        // Finishes even if this round is cancelled now.
        let store = self.store.clone();
        let (samples, stored) = match self
            .writes
            .spawn(async move {
                let stored = store.write(&samples).await;
                (samples, stored)
            })
            .await
        {
            Ok(done) => done,
            Err(e) => (
                Vec::new(),
                Err(anyhow::anyhow!("the write task failed: {e}")),
            ),
        };
        {
            let mut h = lock(&scheduled.health);
            h.last_duration = Some(took);
            h.last_scrape = Some(ctx.now);
            match (&error, &stored) {
                (None, Ok(_)) => {
                    h.up = Some(true);
                    h.last_success = Some(ctx.now);
                    h.last_error = warning.or(invalid.map(|(count, first)| {
                        format!("{count} malformed samples dropped, e.g. {first}")
                    }));
                    h.last_samples = collected;
                }
                (Some(e), _) => {
                    h.up = Some(false);
                    h.last_error = Some(e.clone());
                    h.last_samples = collected;
                }
                (None, Err(e)) => {
                    h.up = Some(false);
                    h.last_error = Some(format!("storing samples failed: {e:#}"));
                }
            }
        }
        if let Err(e) = stored {
            tracing::error!(source = %info.id, error = %e, "storing samples failed");
            return;
        }
        tracing::debug!(source = %info.id, samples = collected, took = ?took, "collected");
        self.hub.publish(&LiveMessage::Samples(LiveSamples {
            source: info.id.to_string(),
            t: ctx.now.timestamp_millis(),
            values: samples
                .into_iter()
                .filter(|s| s.labels.is_empty())
                .map(|s| (s.metric.into_string(), s.value))
                .collect(),
        }));
    }
}

/// One call of `source` under the context's timeout; a failure is described in one line.
pub async fn collect_once(source: &dyn Source, ctx: &CollectContext) -> Result<Snapshot, String> {
    match tokio::time::timeout(ctx.timeout, source.collect(ctx)).await {
        Ok(Ok(snapshot)) => Ok(snapshot),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(ctx.timeout)
        )),
    }
}

/// How far ahead of our clock a sample's own timestamp may be.
pub const MAX_FUTURE: Duration = Duration::from_secs(10 * 60);

/// Splits off samples whose timestamps are older than `max_age` or more than [`MAX_FUTURE`] ahead of `now`.
fn within_window(
    samples: Vec<Sample>,
    now: DateTime<Utc>,
    max_age: Duration,
) -> (Vec<Sample>, usize) {
    let oldest = now - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::days(36500));
    let newest = now + chrono::Duration::from_std(MAX_FUTURE).unwrap_or_default();
    let before = samples.len();
    let kept: Vec<Sample> = samples
        .into_iter()
        .filter(|s| s.ts >= oldest && s.ts <= newest)
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_labels_apply_to_every_metric_and_metric_labels_win() {
        let mut m = Metric::new("x", 1.0);
        m.labels.insert("zone".into(), "b".into());
        let snap = Snapshot::new(
            Utc::now(),
            &SourceId::parse("s").unwrap(),
            vec![m, Metric::new("y", 2.0)],
            [
                ("zone".to_string(), "a".to_string()),
                ("team".to_string(), "t".to_string()),
            ]
            .into(),
        );
        let (samples, refused) = snap.into_samples();
        assert_eq!(refused, None);
        assert_eq!(samples[0].labels["zone"], "b");
        assert_eq!(samples[1].labels["zone"], "a");
        assert!(samples
            .iter()
            .all(|s| s.labels["team"] == "t" && s.source == "s"));
    }

    #[test]
    fn malformed_samples_from_any_source_are_dropped_and_counted() {
        use crate::names::MAX_LABEL_VALUE;
        let at = |metric: &str, labels: &[(&str, String)]| {
            let mut m = Metric::new(metric, 1.0);
            m.labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            m
        };
        let many: Vec<(String, String)> = (0..40).map(|i| (format!("l{i}"), "v".into())).collect();
        let mut too_many = at("ok", &[]);
        too_many.labels = many.into_iter().collect();
        let metrics = vec![
            at("fine", &[("zone", "eu".into())]),
            at("bad-name", &[]),
            at("fine", &[("__reserved", "x".into())]),
            at("fine", &[("long", "x".repeat(MAX_LABEL_VALUE + 1))]),
            too_many,
        ];
        let snap = Snapshot::new(
            Utc::now(),
            &SourceId::parse("s").unwrap(),
            metrics,
            Labels::new(),
        );
        let (kept, invalid) = snap.into_samples();
        assert_eq!(kept.len(), 1);
        let (count, first) = invalid.expect("four were dropped");
        assert_eq!(count, 4);
        assert!(first.contains("bad-name"), "{first}");
    }

    #[test]
    fn samples_outside_the_time_window_are_dropped() {
        let now = Utc::now();
        let source = SourceId::parse("s").unwrap();
        let at = |ts| Sample::parse("m", &source, Labels::new(), ts, 1.0).unwrap();
        let samples = vec![
            at(now),
            at(now - chrono::Duration::days(8)),
            at(now + chrono::Duration::minutes(11)),
            at(now + chrono::Duration::minutes(9)),
            at(now - chrono::Duration::days(6)),
        ];
        let (kept, dropped) = within_window(samples, now, Duration::from_secs(7 * 86400));
        assert_eq!((kept.len(), dropped), (3, 2));
    }
}
