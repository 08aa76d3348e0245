//! Logstash (its `http` input): one JSON event per notice, at once, never batched: `@timestamp`, `message` (the
//! summary), the notice, the alert's labels and annotations, value and threshold.

use super::{Alert, Channel};
use crate::alert::notify::outbox::notice_name;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub struct Logstash;

impl Channel for Logstash {
    fn render(&self, alert: &Alert<'_>) -> Value {
        event(alert)
    }

    fn test(&self, name: &str, _key: &str, now: DateTime<Utc>) -> Value {
        test_event(name, now)
    }
}

/// A notice as one log event (the console channel logs the same).
pub(super) fn event(alert: &Alert<'_>) -> Value {
    let n = alert.notification;
    json!({
        "@timestamp": n.at.to_rfc3339(),
        "message": alert.summary,
        "notice": notice_name(n.notice),
        "status": alert.status,
        "alertname": n.rule.name,
        "severity": n.rule.severity.as_str(),
        "source": n.source,
        "metric": n.metric,
        "value": n.value,
        "threshold": n.rule.threshold,
        "condition": n.rule.condition.as_str(),
        "labels": alert.labels,
        "annotations": alert.annotations,
        "idempotency_key": alert.key,
    })
}

pub(super) fn test_event(name: &str, now: DateTime<Utc>) -> Value {
    json!({ "@timestamp": now.to_rfc3339(), "message": super::test_summary(name), "notice": "test", "status": "firing" })
}
