//! Routing: which contact points a notice reaches. A contact point takes notices of rules at or above its
//! `min_severity` whose alert labels pass all its matchers; an escalation step (`escalate_after`) takes a firing
//! alert only once it has been firing, unacknowledged, that long, and then also hears of its resolution.

use super::channels::Kind;
use super::outbox::Notification;
use crate::alert::state::Notice;
use crate::store::query::LabelMatcher;
use sqlx::Postgres;
use std::collections::BTreeMap;

/// A contact point a notice is routed to.
pub(super) struct Route {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    matchers: Vec<String>,
}

impl Route {
    /// Whether the contact point's matchers let an alert with `labels` through.
    pub fn lets_through(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers
            .iter()
            .all(|m| m.parse::<LabelMatcher>().is_ok_and(|m| m.matches(labels)))
    }
}

type RouteRow = (i64, String, Kind, Vec<String>);

fn route((id, name, kind, matchers): RouteRow) -> Route {
    Route {
        id,
        name,
        kind,
        matchers,
    }
}

/// The enabled contact points that take `n` now: the immediate ones, and for a resolution also the escalation
/// steps that heard of this firing (an outbox row under `escalation_prefix` + their id).
pub(super) async fn immediate(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &Notification<'_>,
    escalation_prefix: &str,
) -> sqlx::Result<Vec<Route>> {
    let rows: Vec<RouteRow> = sqlx::query_as(
        "SELECT id, name, kind, matchers FROM contact_points c WHERE enabled AND
            array_position(ARRAY['info', 'warning', 'error', 'critical'], min_severity)
              <= array_position(ARRAY['info', 'warning', 'error', 'critical'], $1)
            AND (escalate_after_ms IS NULL OR $2 AND EXISTS (
                SELECT 1 FROM outbox o WHERE o.contact_point_id = c.id AND o.idempotency_key = $3 || c.id))",
    )
    .bind(n.rule.severity.as_str())
    .bind(n.notice == Notice::Resolved)
    .bind(escalation_prefix)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(route).collect())
}

/// The enabled escalation steps whose delay an alert firing for `fired_ms` has outlasted.
pub(super) async fn escalations(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &Notification<'_>,
    fired_ms: i64,
) -> sqlx::Result<Vec<Route>> {
    let rows: Vec<RouteRow> = sqlx::query_as(
        "SELECT id, name, kind, matchers FROM contact_points WHERE enabled AND escalate_after_ms <= $2 AND
            array_position(ARRAY['info', 'warning', 'error', 'critical'], min_severity)
              <= array_position(ARRAY['info', 'warning', 'error', 'critical'], $1)",
    )
    .bind(n.rule.severity.as_str())
    .bind(fired_ms)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(route).collect())
}
