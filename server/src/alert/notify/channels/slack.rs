//! Slack incoming webhooks: `{"text": …}`, one line per notice; a group batch sends its lines in one message.

use super::{combined, joined, Alert, Channel};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub struct Slack;

impl Channel for Slack {
    fn render(&self, alert: &Alert<'_>) -> Value {
        json!({ "text": alert.summary })
    }

    fn batches(&self) -> bool {
        true
    }

    fn combine(&self, _key: &str, payloads: &[Value]) -> Value {
        combined(
            payloads,
            |_| json!({ "text": joined(payloads, "text", "\n") }),
        )
    }

    fn test(&self, name: &str, _key: &str, _now: DateTime<Utc>) -> Value {
        json!({ "text": super::test_summary(name) })
    }
}
