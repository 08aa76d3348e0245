//! `GET /metrics`: mcpulse's own metrics in the Prometheus text format (encoded by prometheus-client), so an
//! existing Prometheus can watch the watcher. Values are read at scrape time from the HTTP telemetry and the
//! collector; nothing here is stored.

use crate::collect::Collector as SourceCollector;
use crate::telemetry::{resident_memory_bytes, HttpTelemetry};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug)]
struct SelfMetrics {
    telemetry: Arc<HttpTelemetry>,
    sources: Arc<SourceCollector>,
    rejected_samples: u64,
}

impl std::fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collector")
    }
}

impl Collector for SelfMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let totals = self.telemetry.totals();
        let requests = ConstCounter::new(totals.requests_total);
        requests.encode(encoder.encode_descriptor(
            "mcpulse_http_requests",
            "HTTP requests served.",
            None,
            requests.metric_type(),
        )?)?;
        let errors = ConstCounter::new(totals.errors_total);
        errors.encode(encoder.encode_descriptor(
            "mcpulse_http_errors",
            "HTTP requests answered with a 5xx status.",
            None,
            errors.metric_type(),
        )?)?;
        let connections = ConstGauge::new(totals.active_connections);
        connections.encode(encoder.encode_descriptor(
            "mcpulse_http_active_connections",
            "Open TCP connections to the HTTP server.",
            None,
            connections.metric_type(),
        )?)?;
        if let Some(rss) = resident_memory_bytes() {
            let rss = ConstGauge::new(rss as i64);
            rss.encode(encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                None,
                rss.metric_type(),
            )?)?;
        }

        let rejected = ConstCounter::new(self.rejected_samples);
        rejected.encode(encoder.encode_descriptor(
            "mcpulse_samples_rejected",
            "Samples left out because their source reached its series limit.",
            None,
            rejected.metric_type(),
        )?)?;

        let statuses = self.sources.statuses();
        let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
        for s in &statuses {
            *by_kind.entry(s.kind.clone()).or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            "mcp_metrics_sources_total",
            "Registered metrics sources by type.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (kind, n) in &by_kind {
            let labels = [("type", kind.as_str())];
            ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "mcpulse_source_up",
            "1 if the source's last collection succeeded, 0 if it failed.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for s in statuses.iter().filter(|s| s.up.is_some()) {
            let labels = [("source", s.id.as_str()), ("type", s.kind.as_str())];
            ConstGauge::new(i64::from(s.up == Some(true)))
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Renders the exposition.
pub fn render(
    telemetry: Arc<HttpTelemetry>,
    sources: Arc<SourceCollector>,
    rejected_samples: u64,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SelfMetrics {
        telemetry,
        sources,
        rejected_samples,
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}
