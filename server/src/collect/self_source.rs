//! The built-in source `self`: mcpulse's own HTTP server (`requests_total`, `errors_total`, `response_time_ms`,
//! `active_connections`) and process (`process_resident_memory_bytes`), read from [`HttpTelemetry`].

use super::{CollectContext, Metric, Snapshot, Source, SourceInfo};
use crate::store::Labels;
use crate::telemetry::{resident_memory_bytes, HttpTelemetry};
use async_trait::async_trait;
use std::sync::Arc;

pub struct SelfSource {
    telemetry: Arc<HttpTelemetry>,
}

impl SelfSource {
    pub fn new(telemetry: Arc<HttpTelemetry>) -> Self {
        SelfSource { telemetry }
    }
}

#[async_trait]
impl Source for SelfSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: "self".into(),
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
        if let Some(rss) = resident_memory_bytes() {
            metrics.push(Metric::new("process_resident_memory_bytes", rss as f64));
        }
        Ok(Snapshot {
            timestamp: ctx.now,
            source_id: "self".into(),
            metrics,
            labels: Labels::new(),
        })
    }
}
