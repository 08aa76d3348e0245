//! The built-in source `self`: mcpulse's own HTTP server (`requests_total`, `errors_total`, `response_time_ms`,
//! `active_connections`) and process (`process_resident_memory_bytes`), read from [`HttpTelemetry`], and the
//! store's ingest rate (`ingest_samples_per_second`, samples committed per second since the previous round).

use super::{CollectContext, Metric, Snapshot, Source, SourceInfo};
use crate::store::{Labels, SourceId, Store};
use crate::telemetry::{resident_memory_bytes, HttpTelemetry};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct SelfSource {
    telemetry: Arc<HttpTelemetry>,
    store: Option<Arc<Store>>,
    /// The store's count of committed samples at the previous round, and when.
    last_stored: Mutex<Option<(u64, Instant)>>,
}

impl SelfSource {
    pub fn new(telemetry: Arc<HttpTelemetry>) -> Self {
        SelfSource {
            telemetry,
            store: None,
            last_stored: Mutex::new(None),
        }
    }

    /// Also reports `store`'s ingest rate.
    pub fn with_store(mut self, store: Arc<Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Samples committed per second since the previous call (none on the first).
    fn ingest_rate(&self) -> Option<f64> {
        let stored = self.store.as_ref()?.stored_samples();
        let now = Instant::now();
        let mut last = self.last_stored.lock().unwrap_or_else(|e| e.into_inner());
        let rate = last.and_then(|(before, at)| {
            let secs = now.duration_since(at).as_secs_f64();
            (secs > 0.0).then(|| stored.saturating_sub(before) as f64 / secs)
        });
        *last = Some((stored, now));
        rate
    }
}

#[async_trait]
impl Source for SelfSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: SourceId::literal("self"),
            name: "mcpulse".into(),
            kind: "self".into(),
            description: "mcpulse's own HTTP server and process".into(),
        }
    }

    async fn collect(&self, ctx: &CollectContext) -> anyhow::Result<Snapshot> {
        let http = self.telemetry.take_interval();
        let mut metrics = vec![
            Metric::new("requests_total", http.requests_total as f64),
            Metric::new("errors_total", http.errors_total as f64),
            Metric::new("active_connections", http.active_connections as f64),
        ];
        // A quiet interval has no response time; leaving it out keeps averages honest.
        if let Some(ms) = http.response_time_ms {
            metrics.push(Metric::new("response_time_ms", ms));
        }
        if let Some(rate) = self.ingest_rate() {
            metrics.push(Metric::new("ingest_samples_per_second", rate));
        }
        if let Some(rss) = resident_memory_bytes() {
            metrics.push(Metric::new("process_resident_memory_bytes", rss as f64));
        }
        Ok(Snapshot::new(
            ctx.now,
            &SourceId::literal("self"),
            metrics,
            Labels::new(),
        ))
    }
}
