//! The outbox's producer side. A notice of the evaluator enters through [`enqueue`] (or [`escalate`]), in the
//! evaluator's own transaction: one `outbox` row per routed contact point, holding the payload its channel
//! rendered, its group and an idempotency key (unique per contact point, so a re-run evaluation queues nothing
//! twice). The dispatcher takes the rows from there.

use super::channels::{Alert, Kind, KindChannel};
use super::group::{group_labels, Grouping};
use super::route::{self, Route};
use crate::alert::rule::Rule;
use crate::alert::state::{AlertState, Notice};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Postgres;
use std::collections::BTreeMap;

/// The `series_id` of a notice about a rule as a whole (its query fails, or none of its series has data).
pub const RULE_LEVEL: i64 = 0;

pub struct Notification<'a> {
    pub rule_id: i64,
    pub rule: &'a Rule,
    pub series_id: i64,
    pub source: String,
    pub metric: String,
    pub series_labels: BTreeMap<String, String>,
    pub notice: Notice,
    pub state: &'a AlertState,
    pub value: Option<f64>,
    pub at: DateTime<Utc>,
    pub grouping: &'a Grouping,
}

/// Writes one outbox row per enabled contact point that takes the rule's severity, in the caller's transaction.
/// Returns how many.
pub async fn enqueue(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &Notification<'_>,
) -> anyhow::Result<u64> {
    let points = route::immediate(tx, n, &escalation_key_prefix(n)).await?;
    let key = format!(
        "{}:{}:{}:{}",
        n.rule_id,
        n.series_id,
        notice_name(n.notice),
        n.at.timestamp_millis()
    );
    queue(tx, points, n, |_| key.clone()).await
}

/// Queues `n` for each of `points` whose matchers let it through, under the idempotency key `key_for(id)`.
/// Returns how many rows were new.
async fn queue(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    points: Vec<Route>,
    n: &Notification<'_>,
    key_for: impl Fn(i64) -> String,
) -> anyhow::Result<u64> {
    // The alert's labels, and those its group is known by: once per notice, whatever the number of receivers.
    let labels = crate::alert::alert_labels(n.rule, &n.source, &n.metric, &n.series_labels);
    let groups = group_labels(n.grouping, &labels);
    let group_key = serde_json::to_string(&groups).unwrap_or_default();
    let mut written = 0;
    for point in points.iter().filter(|p| p.lets_through(&labels)) {
        let key = key_for(point.id);
        let payload = payload(point.kind, &point.name, n, &key, &labels, &groups);
        let group = point.kind.channel().batches().then_some(group_key.as_str());
        written += insert(tx, point.id, &key, &payload, group, n).await?;
    }
    Ok(written)
}

/// Queues one payload for one contact point. A notice with a `group` (its channel batches) joins its group's batch
/// (or starts one that waits `group wait`, or `group interval` after the group's last send); one without goes alone
/// at once.
async fn insert(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    contact_point: i64,
    key: &str,
    payload: &Value,
    group: Option<&str>,
    n: &Notification<'_>,
) -> anyhow::Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO outbox (contact_point_id, idempotency_key, payload, group_key, created_at, next_attempt_at,
                             not_before)
         VALUES ($1, $2, $3::jsonb, $4, $7, $7, CASE WHEN $4::text IS NULL THEN $7 ELSE coalesce(
             (SELECT min(not_before) FROM outbox WHERE contact_point_id = $1 AND group_key = $4
                AND delivered_at IS NULL AND failed_at IS NULL),
             greatest($7 + make_interval(secs => $5),
                      (SELECT max(delivered_at) FROM outbox WHERE contact_point_id = $1 AND group_key = $4)
                        + make_interval(secs => $6))) END)
         ON CONFLICT (contact_point_id, idempotency_key) DO NOTHING",
    )
    .bind(contact_point)
    .bind(key)
    .bind(payload.to_string())
    .bind(group)
    .bind(n.grouping.wait.as_secs_f64())
    .bind(n.grouping.interval.as_secs_f64())
    // The evaluation's clock, not the database's: a notice is due `group wait` after the instant it was decided.
    .bind(n.at)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// The idempotency key of an escalation of one firing episode, without the contact point id at its end.
fn escalation_key_prefix(n: &Notification<'_>) -> String {
    format!(
        "{}:{}:escalation:{}:",
        n.rule_id,
        n.series_id,
        n.state
            .firing_since
            .map(|t| t.timestamp_millis())
            .unwrap_or_default()
    )
}

/// Escalation: queues a firing, unacknowledged alert for every escalation step whose delay it has outlasted and
/// that has not heard of this firing yet (the outbox's unique idempotency key makes that once). Returns how many.
pub async fn escalate(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &Notification<'_>,
) -> anyhow::Result<u64> {
    let Some(firing_since) = n.state.firing_since else {
        return Ok(0);
    };
    let fired_ms = (n.at - firing_since).num_milliseconds();
    let points = route::escalations(tx, n, fired_ms).await?;
    let prefix = escalation_key_prefix(n);
    queue(tx, points, n, |id| format!("{prefix}{id}")).await
}

/// The notice as the outbox, the payloads and the log name it.
pub fn notice_name(notice: Notice) -> &'static str {
    match notice {
        Notice::Firing => "firing",
        Notice::Resolved => "resolved",
        Notice::Flapping => "flapping",
        Notice::NoData => "no_data",
        Notice::Error => "error",
    }
}

/// The body contact point `receiver` of `kind` receives: the notice as an [`Alert`] with the alert's `labels` and
/// its group's, rendered by its channel.
fn payload(
    kind: Kind,
    receiver: &str,
    n: &Notification<'_>,
    key: &str,
    labels: &BTreeMap<String, String>,
    group_labels: &BTreeMap<String, String>,
) -> Value {
    let status = match n.notice {
        Notice::Resolved => "resolved",
        _ => "firing",
    };
    let mut annotations = n.rule.annotations.clone();
    if !n.rule.description.is_empty() {
        annotations
            .entry("description".into())
            .or_insert_with(|| n.rule.description.clone());
    }
    let value = n
        .value
        .map(|v| format!("{v}"))
        .unwrap_or_else(|| "no data".into());
    let summary = format!(
        "[{}] {}: {} = {} ({} {}){}",
        match n.notice {
            Notice::Flapping => "FLAPPING".into(),
            Notice::NoData => "NO DATA".into(),
            Notice::Error => "ERROR".into(),
            _ => status.to_uppercase(),
        },
        n.rule.name,
        match n.source.as_str() {
            "" => n.metric.clone(),
            source => format!("{source} {}", n.metric),
        },
        value,
        n.rule.condition.as_str(),
        n.rule.threshold,
        match (n.notice, n.series_id == RULE_LEVEL) {
            (Notice::Flapping, _) => "; notifications held back until it calms down",
            (Notice::NoData, false) =>
                "; the series has stopped reporting, the alert keeps its state",
            (Notice::Error, false) => "; the rule's query failed, the alert keeps its state",
            (Notice::NoData, true) => "; none of the rule's series has data",
            (Notice::Error, true) => "; the rule's query fails, its alerts cannot be checked",
            (Notice::Resolved, true) => "; the rule can be checked again",
            _ => "",
        }
    );
    let starts_at = n
        .state
        .firing_since
        .or(n.state.active_since)
        .unwrap_or(n.at);
    kind.channel().render(&Alert {
        notification: n,
        receiver,
        key,
        status,
        labels,
        annotations,
        summary,
        starts_at,
        group_labels,
    })
}
