//! Contact points: where notices go. A [`ContactPointDraft`] from the page, the API or the MCP server is checked
//! field by field (every problem at once; the URL by its channel and the guard) and stored in `contact_points`;
//! [`ContactPoints::list`] reads them back with their queue's state (queued, failed, delivered, last error), URLs
//! redacted.

use super::channels::{Kind, KindChannel};
use super::guard::{check_target, redact, AllowList, GuardedResolver};
use crate::alert::rule::Severity;
use app::error::AppError;
use app::types::{ContactPointDraft, ContactPointInfo};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;

/// A contact point draft, checked.
struct Checked {
    name: String,
    kind: Kind,
    settings: Value,
    severity: Severity,
    escalate_after: Option<i64>,
    matchers: Vec<String>,
}

/// A unique-name violation as the field error it is.
fn name_taken(e: sqlx::Error, name: &str) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => AppError::invalid(
            "name",
            format!("a contact point named `{name}` exists already"),
        ),
        _ => AppError::internal(e),
    }
}

/// The contact points' store and the outbox's producer side.
pub struct ContactPoints {
    pool: PgPool,
    allowed: AllowList,
}

impl ContactPoints {
    pub fn new(pool: PgPool, allowed: AllowList) -> Self {
        ContactPoints { pool, allowed }
    }

    pub async fn create(
        &self,
        draft: &ContactPointDraft,
        by: &str,
    ) -> Result<ContactPointInfo, AppError> {
        let c = self.check(draft, None).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO contact_points (name, kind, settings, min_severity, enabled, created_by, escalate_after_ms,
                matchers)
             VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&c.name)
        .bind(c.kind)
        .bind(c.settings.to_string())
        .bind(c.severity.as_str())
        .bind(draft.enabled)
        .bind(by)
        .bind(c.escalate_after)
        .bind(&c.matchers)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| name_taken(e, &c.name))?;
        self.get(id).await
    }

    /// Changes contact point `id` (its queue stays); an empty URL keeps the stored one when the kind is unchanged.
    pub async fn update(
        &self,
        id: i64,
        draft: &ContactPointDraft,
    ) -> Result<ContactPointInfo, AppError> {
        let current: Option<(Kind, String)> =
            sqlx::query_as("SELECT kind, settings::text FROM contact_points WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(AppError::internal)?;
        let Some((kind, settings)) = current else {
            return Err(AppError::NotFound);
        };
        let settings: Value = serde_json::from_str(&settings).unwrap_or_default();
        let c = self.check(draft, Some((kind, &settings))).await?;
        sqlx::query(
            "UPDATE contact_points SET name = $2, kind = $3, settings = $4::jsonb, min_severity = $5, enabled = $6,
                escalate_after_ms = $7, matchers = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&c.name)
        .bind(c.kind)
        .bind(c.settings.to_string())
        .bind(c.severity.as_str())
        .bind(draft.enabled)
        .bind(c.escalate_after)
        .bind(&c.matchers)
        .execute(&self.pool)
        .await
        .map_err(|e| name_taken(e, &c.name))?;
        self.get(id).await
    }

    async fn get(&self, id: i64) -> Result<ContactPointInfo, AppError> {
        self.list()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(AppError::NotFound)
    }

    /// A draft checked field by field; `keep` is the stored kind and settings when changing one.
    async fn check(
        &self,
        draft: &ContactPointDraft,
        keep: Option<(Kind, &Value)>,
    ) -> Result<Checked, AppError> {
        let mut problems = app::error::Problems::new();
        let name = draft.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            problems.add("name", "give it a name of at most 200 characters");
        }
        let kind = Kind::parse(&draft.kind);
        if kind.is_none() {
            problems.add(
                "kind",
                "expected console, webhook, slack, logstash or email",
            );
        }
        let severity = Severity::parse(&draft.min_severity);
        if severity.is_none() {
            problems.add("min_severity", "expected info, warning, error or critical");
        }
        let settings = match kind {
            None => None,
            Some(kind) if kind.channel().url_hint().is_none() => Some(json!({})),
            // Changing a contact point without retyping its (redacted) URL keeps the stored one.
            Some(kind) if draft.url.trim().is_empty() && keep.is_some_and(|(k, _)| k == kind) => {
                keep.map(|(_, settings)| settings.clone())
            }
            Some(kind) => problems.take(self.check_url(kind, draft.url.trim()).await),
        };
        let escalate_after = match draft.escalate_after.trim() {
            "" | "0" => None,
            text => {
                let after = humantime::parse_duration(text)
                    .ok()
                    .filter(|d| !d.is_zero() && *d <= Duration::from_secs(7 * 86400));
                if after.is_none() {
                    problems.add(
                        "escalate_after",
                        format!(
                            "`{text}`: a duration up to 7 days, e.g. 15m (empty: notify at once)"
                        ),
                    );
                }
                after.map(|d| d.as_millis() as i64)
            }
        };
        let matchers = problems.take(crate::store::query::LabelMatcher::parse_list(
            &draft.matchers,
        ));
        problems.finish()?;
        let (Some(kind), Some(severity), Some(settings), Some(matchers)) =
            (kind, severity, settings, matchers)
        else {
            unreachable!("every missing value was recorded as a problem");
        };
        Ok(Checked {
            name: name.to_string(),
            kind,
            settings,
            severity,
            escalate_after,
            matchers: matchers.iter().map(ToString::to_string).collect(),
        })
    }

    /// The settings of a `kind` contact point sending to `url`, or the problem with the URL (field `url`).
    async fn check_url(&self, kind: Kind, url: &str) -> Result<Value, AppError> {
        let channel = kind.channel();
        if url.is_empty() {
            return Err(AppError::invalid("url", channel.url_hint().unwrap_or("")));
        }
        let url = url::Url::parse(url)
            .map_err(|e| AppError::invalid("url", format!("not a URL: {e}")))?;
        channel
            .check_url(&url)
            .map_err(|e| AppError::invalid("url", e))?;
        check_target(&url, &GuardedResolver::new(self.allowed.clone()))
            .await
            .map_err(|e| AppError::invalid("url", e))?;
        Ok(json!({ "url": url.as_str() }))
    }

    pub async fn delete(&self, id: i64) -> Result<(), AppError> {
        crate::alert::delete_by_id(&self.pool, "contact_points", id).await
    }

    /// Every contact point, URLs redacted, with its queue's size.
    pub async fn list(&self) -> Result<Vec<ContactPointInfo>, AppError> {
        type Row = (
            i64,
            String,
            Kind,
            String,
            String,
            bool,
            i64,
            i64,
            Option<i64>,
            Vec<String>,
            i64,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.id, c.name, c.kind, coalesce(c.settings->>'url', ''), c.min_severity, c.enabled,
                    count(o.id) FILTER (WHERE o.delivered_at IS NULL AND o.failed_at IS NULL),
                    count(o.id) FILTER (WHERE o.failed_at IS NOT NULL), c.escalate_after_ms, c.matchers,
                    count(o.id) FILTER (WHERE o.delivered_at IS NOT NULL),
                    max(o.last_attempt_at),
                    min(o.next_attempt_at) FILTER (WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.attempts > 0),
                    (SELECT l.last_error FROM outbox l WHERE l.contact_point_id = c.id AND l.last_attempt_at IS NOT NULL
                     ORDER BY l.last_attempt_at DESC, l.id DESC LIMIT 1)
             FROM contact_points c LEFT JOIN outbox o ON o.contact_point_id = c.id
             GROUP BY c.id ORDER BY lower(c.name)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(rows
            .into_iter()
            .map(|r| ContactPointInfo {
                id: r.0,
                name: r.1,
                kind: r.2,
                url: if r.3.is_empty() {
                    String::new()
                } else {
                    redact(&r.3)
                },
                min_severity: r.4,
                enabled: r.5,
                escalate_after: r.8.map(|ms| {
                    humantime::format_duration(Duration::from_millis(ms as u64)).to_string()
                }),
                matchers: r.9,
                queued: r.6,
                failed: r.7,
                delivered: r.10,
                last_attempt_at: r.11,
                next_retry_at: r.12,
                last_error: r.13,
            })
            .collect())
    }
}
