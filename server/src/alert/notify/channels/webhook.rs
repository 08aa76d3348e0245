//! Webhooks in Alertmanager's format (version 4), so receivers written for Alertmanager work unchanged: one
//! notification per group batch, its `alerts` the batch's notices, `idempotencyKey` in the body and the header.

use super::{Alert, Channel};
use crate::alert::state::Notice;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub struct Webhook;

impl Channel for Webhook {
    fn render(&self, alert: &Alert<'_>) -> Value {
        let n = alert.notification;
        json!({
            "version": "4",
            "groupKey": format!("{{}}:{}", serde_json::to_string(&alert.group_labels).unwrap_or_default()),
            "status": alert.status,
            "receiver": alert.receiver,
            "groupLabels": alert.group_labels,
            "commonLabels": alert.labels,
            "commonAnnotations": alert.annotations,
            "externalURL": "",
            "truncatedAlerts": 0,
            "idempotencyKey": alert.key,
            "alerts": [{
                "status": alert.status,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": alert.starts_at.to_rfc3339(),
                "endsAt": n.state.resolved_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "generatorURL": "",
                "fingerprint": format!("{:016x}", fingerprint(n.rule_id, n.series_id)),
                "flapping": n.notice == Notice::Flapping,
            }],
        })
    }

    fn batches(&self) -> bool {
        true
    }

    /// The batch's alerts in one body: firing if any is, `commonLabels` the labels all share.
    fn combine(&self, key: &str, payloads: &[Value]) -> Value {
        let Some(first) = payloads.first() else {
            return Value::Null;
        };
        let mut out = first.clone();
        if payloads.len() > 1 {
            let alerts: Vec<Value> = payloads
                .iter()
                .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
                .collect();
            let firing = alerts.iter().any(|a| a["status"] == "firing");
            let mut common: serde_json::Map<String, Value> =
                alerts[0]["labels"].as_object().cloned().unwrap_or_default();
            common.retain(|k, v| alerts.iter().all(|a| a["labels"][k.as_str()] == *v));
            out["status"] = json!(if firing { "firing" } else { "resolved" });
            out["commonLabels"] = Value::Object(common);
            out["alerts"] = Value::Array(alerts);
        }
        out["idempotencyKey"] = json!(key);
        out
    }

    fn test(&self, name: &str, key: &str, now: DateTime<Utc>) -> Value {
        let summary = super::test_summary(name);
        json!({
            "version": "4", "status": "firing", "receiver": name, "groupKey": "{}:test",
            "groupLabels": {}, "commonLabels": {"alertname": "mcpulse test"}, "commonAnnotations": {"summary": summary},
            "externalURL": "", "truncatedAlerts": 0, "idempotencyKey": key,
            "alerts": [{"status": "firing", "labels": {"alertname": "mcpulse test"}, "annotations": {"summary": summary},
                "startsAt": now.to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                "fingerprint": "0000000000000000", "flapping": false}],
        })
    }
}

/// An alert's fingerprint: FNV-1a over its rule and series ids, stable across processes and versions.
fn fingerprint(rule_id: i64, series_id: i64) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in rule_id
        .to_le_bytes()
        .iter()
        .chain(series_id.to_le_bytes().iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
