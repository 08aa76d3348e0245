//! The console: each notice logged at once as a warning (target `mcpulse::alert`) in the Logstash event's form.
//! It has no address and cannot fail.

use super::{Alert, Channel, Outcome, Sender};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;

pub struct Console;

impl Channel for Console {
    fn render(&self, alert: &Alert<'_>) -> Value {
        super::logstash::event(alert)
    }

    fn test(&self, name: &str, _key: &str, now: DateTime<Utc>) -> Value {
        super::logstash::test_event(name, now)
    }

    fn url_hint(&self) -> Option<&'static str> {
        None
    }

    fn send<'a>(
        &'a self,
        _sender: &'a Sender,
        _to: Option<&'a url::Url>,
        _key: &'a str,
        payload: &'a Value,
    ) -> BoxFuture<'a, Outcome> {
        tracing::warn!(target: "mcpulse::alert", notification = %payload, "alert notification");
        Box::pin(std::future::ready(Outcome::Delivered))
    }
}
