//! Collection: every source implements [`Source`]; a scheduler task per source calls it every interval (never
//! overlapping, each call under a timeout), turns the [`Snapshot`] into samples, stores them durably, then
//! announces them to live clients. A failed or timed-out round records `up = 0` for the source.
//!
//! Kinds live in their own modules (`self_source` today; Prometheus, push and MCP sources plug in the same way).

pub mod self_source;

use crate::live::Hub;
use crate::store::{Labels, Sample, Store};
use app::types::{LiveMessage, LiveSamples};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Describes a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub id: String,
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
}

impl Metric {
    pub fn new(name: &str, value: f64) -> Self {
        Metric {
            name: name.to_string(),
            labels: Labels::new(),
            value,
        }
    }
}

/// What one collection round returns. `labels` apply to every metric of the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub timestamp: DateTime<Utc>,
    pub source_id: String,
    pub metrics: Vec<Metric>,
    pub labels: Labels,
}

impl Snapshot {
    pub fn into_samples(self) -> Vec<Sample> {
        let Snapshot {
            timestamp,
            source_id,
            metrics,
            labels,
        } = self;
        metrics
            .into_iter()
            .map(|m| {
                let mut all = labels.clone();
                all.extend(m.labels);
                Sample {
                    metric: m.name,
                    source: source_id.clone(),
                    labels: all,
                    ts: timestamp,
                    value: m.value,
                }
            })
            .collect()
    }
}

/// What a round may know about its circumstances.
#[derive(Debug, Clone)]
pub struct CollectContext {
    /// The instant the round is taken for.
    pub now: DateTime<Utc>,
    /// How long the round may take before it is abandoned.
    pub timeout: Duration,
}

/// A source of metrics. Implement it to add your own (see README, "Custom sources").
#[async_trait]
pub trait Source: Send + Sync + 'static {
    fn info(&self) -> SourceInfo;
    async fn collect(&self, ctx: &CollectContext) -> anyhow::Result<Snapshot>;
}

/// Runs `source` every `interval` until `stop` is cancelled.
pub fn spawn(
    source: Arc<dyn Source>,
    interval: Duration,
    store: Arc<Store>,
    hub: Arc<Hub>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        // A slow round delays the next instead of bunching rounds up: rounds never overlap.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            round(source.as_ref(), interval, &store, &hub).await;
        }
    })
}

/// One collection round: collect, store, announce.
pub async fn round(source: &dyn Source, timeout: Duration, store: &Store, hub: &Hub) {
    let info = source.info();
    let ctx = CollectContext {
        now: Utc::now(),
        timeout,
    };
    let started = std::time::Instant::now();
    let mut samples = match tokio::time::timeout(timeout, source.collect(&ctx)).await {
        Ok(Ok(snapshot)) => snapshot.into_samples(),
        Ok(Err(e)) => {
            tracing::warn!(source = %info.id, error = %e, "collection failed");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!(source = %info.id, timeout = ?timeout, "collection timed out");
            Vec::new()
        }
    };
    let up = if samples.is_empty() { 0.0 } else { 1.0 };
    samples.push(Sample {
        metric: "up".into(),
        source: info.id.clone(),
        labels: Labels::new(),
        ts: ctx.now,
        value: up,
    });
    if let Err(e) = store.write(&samples).await {
        tracing::error!(source = %info.id, error = %e, "storing samples failed");
        return;
    }
    tracing::debug!(source = %info.id, samples = samples.len(), took = ?started.elapsed(), "collected");
    hub.publish(&LiveMessage::Samples(LiveSamples {
        source: info.id,
        t: ctx.now.timestamp_millis(),
        values: samples
            .into_iter()
            .filter(|s| s.labels.is_empty())
            .map(|s| (s.metric, s.value))
            .collect(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_labels_apply_to_every_metric_and_metric_labels_win() {
        let mut m = Metric::new("x", 1.0);
        m.labels.insert("zone".into(), "b".into());
        let snap = Snapshot {
            timestamp: Utc::now(),
            source_id: "s".into(),
            metrics: vec![m, Metric::new("y", 2.0)],
            labels: [
                ("zone".to_string(), "a".to_string()),
                ("team".to_string(), "t".to_string()),
            ]
            .into(),
        };
        let samples = snap.into_samples();
        assert_eq!(samples[0].labels["zone"], "b");
        assert_eq!(samples[1].labels["zone"], "a");
        assert!(samples
            .iter()
            .all(|s| s.labels["team"] == "t" && s.source == "s"));
    }
}
