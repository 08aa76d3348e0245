//! The channels a contact point sends through, one module per [`Kind`] behind the [`Channel`] trait. A channel
//! says what one notice looks like to its receiver ([`Channel::render`], called when the outbox row is written),
//! whether notices of one group leave together ([`Channel::batches`], [`Channel::combine`], called by the
//! dispatcher on a claimed batch) and how a payload leaves ([`Channel::send`]: an HTTP POST, an email or a log line).

pub mod console;
pub mod email;
pub mod logstash;
pub mod slack;
pub mod webhook;

use super::guard::{redact, GuardedResolver};
use super::outbox::Notification;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A contact point's kind: the shared enum (`app::types::ContactPointKind`), the same in `contact_points.kind`
/// (which a CHECK constraint keeps to its five names), in forms' answers and on the wire.
pub use app::types::ContactPointKind as Kind;

/// The channel a kind of contact point sends through.
pub trait KindChannel {
    fn channel(self) -> &'static dyn Channel;
}

impl KindChannel for Kind {
    fn channel(self) -> &'static dyn Channel {
        match self {
            Kind::Console => &console::Console,
            Kind::Webhook => &webhook::Webhook,
            Kind::Slack => &slack::Slack,
            Kind::Logstash => &logstash::Logstash,
            Kind::Email => &email::Email,
        }
    }
}

/// One notice as every channel renders it: the notification and what is derived from it once.
pub struct Alert<'a> {
    pub notification: &'a Notification<'a>,
    /// The contact point's name.
    pub receiver: &'a str,
    pub key: &'a str,
    /// `firing` or `resolved`.
    pub status: &'static str,
    /// The series' labels with the rule's, `alertname`, `severity`, `source` and `metric`.
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The one line a person reads first, e.g. `[FIRING] High latency: mcp-a latency_ms = 900 (> 500)`.
    pub summary: String,
    pub starts_at: DateTime<Utc>,
    /// The labels of the notice's group (see [`super::Grouping`]).
    pub group_labels: &'a BTreeMap<String, String>,
}

/// How a send ended: delivered, worth retrying (5xx, 429, timeouts, connection errors), or refused for good.
#[derive(Debug)]
pub enum Outcome {
    Delivered,
    Retry(String),
    GiveUp(String),
}

/// What sending needs: an HTTP client that connects only through the guarded resolver and follows no
/// redirects, that resolver (SMTP connects through it too), and how long a receiver may take.
pub struct Sender {
    pub client: reqwest::Client,
    pub resolver: GuardedResolver,
    pub timeout: Duration,
}

/// One kind of receiver.
pub trait Channel: Send + Sync {
    /// The payload one notice becomes for receiver `alert.receiver`.
    fn render(&self, alert: &Alert<'_>) -> Value;

    /// Whether notices of one group wait (`group wait`, `group interval`) and leave as one notification; when not,
    /// each goes alone at once.
    fn batches(&self) -> bool {
        false
    }

    /// The notification a group's payloads (oldest first, at least one) leave as, under idempotency key `key`.
    fn combine(&self, key: &str, payloads: &[Value]) -> Value {
        let _ = key;
        payloads.first().cloned().unwrap_or(Value::Null)
    }

    /// The payload of a test notification to receiver `name`.
    fn test(&self, name: &str, key: &str, now: DateTime<Utc>) -> Value;

    /// What to type when the receiver's address is missing; `None` for a channel without one.
    fn url_hint(&self) -> Option<&'static str> {
        Some("give the receiver's URL, e.g. https://hooks.example.com/alerts")
    }

    /// Whether `url` has this channel's form (the guard checks its host after).
    fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if matches!(url.scheme(), "smtp" | "smtps") {
            return Err("use an http or https URL".into());
        }
        Ok(())
    }

    /// Sends `payload` to `to` (checked against the guard already; `None` for a channel without an address): by
    /// [`Channel::deliver`] to the address.
    fn send<'a>(
        &'a self,
        sender: &'a Sender,
        to: Option<&'a url::Url>,
        key: &'a str,
        payload: &'a Value,
    ) -> BoxFuture<'a, Outcome> {
        match to {
            Some(url) => self.deliver(sender, url, key, payload),
            None => Box::pin(std::future::ready(Outcome::GiveUp(
                "the contact point has no URL".into(),
            ))),
        }
    }

    /// Delivers `payload` to the receiver at `to`: by default a JSON POST ([`post_json`]).
    fn deliver<'a>(
        &'a self,
        sender: &'a Sender,
        to: &'a url::Url,
        key: &'a str,
        payload: &'a Value,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(post_json(sender, to, key, payload))
    }
}

/// POSTs `payload` as JSON with an `Idempotency-Key` header; 2xx is delivered, 5xx/429/timeouts/connection errors
/// are retried, other answers refuse it. Errors name the receiver by its redacted URL only.
pub(super) async fn post_json(
    sender: &Sender,
    url: &url::Url,
    key: &str,
    payload: &Value,
) -> Outcome {
    let shown = redact(url.as_str());
    let sent = sender
        .client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .body(payload.to_string())
        .send()
        .await;
    match sent {
        Ok(res) if res.status().is_success() => Outcome::Delivered,
        Ok(res)
            if res.status().is_server_error()
                || res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
        {
            Outcome::Retry(format!("{shown} answered {}", res.status()))
        }
        Ok(res) => Outcome::GiveUp(format!("{shown} answered {}", res.status())),
        Err(e) if e.is_timeout() => Outcome::Retry(format!(
            "{shown} did not answer within {:?}",
            sender.timeout
        )),
        Err(e) => {
            // The causes say what happened (a refused address, a reset connection…).
            let e = e.without_url();
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !why.contains(&text) {
                    why.push_str(": ");
                    why.push_str(&text);
                }
                cause = c.source();
            }
            Outcome::Retry(format!("{shown}: {why}"))
        }
    }
}

/// Texts of a batch's payloads under `field`, joined by `separator`.
pub(super) fn joined(payloads: &[Value], field: &str, separator: &str) -> String {
    payloads
        .iter()
        .filter_map(|p| p[field].as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

/// The one line of every test notification.
pub(super) fn test_summary(name: &str) -> String {
    format!("[TEST] mcpulse test notification for contact point {name}")
}

/// The notification a batch leaves as: one payload as it is, several as `several(first)` makes them.
pub(super) fn combined(payloads: &[Value], several: impl FnOnce(&Value) -> Value) -> Value {
    match payloads {
        [] => Value::Null,
        [one] => one.clone(),
        [first, ..] => several(first),
    }
}
