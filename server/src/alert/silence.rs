//! Silences: label matchers over an alert's labels with a start and an end, a creator and a comment. They enter as
//! [`SilenceDraft`]s (checked, then stored in `silences`); the evaluator reads the active ones once per round
//! ([`active`]) and sends no notice for an alert that one of them matches.

use crate::clock::Clock;
use crate::store::query::LabelMatcher;
use app::error::AppError;
use app::types::{AlertInfo, SilenceDraft, SilenceInfo};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres};
use std::collections::BTreeMap;

/// An active silence, ready to match.
pub struct Active {
    pub id: i64,
    matchers: Vec<LabelMatcher>,
    pub created_by: String,
    pub ends_at: DateTime<Utc>,
    pub comment: String,
}

impl Active {
    /// Whether every matcher matches `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// The silences in effect at `now`, the one ending last first.
pub async fn active<'e>(
    db: impl sqlx::Executor<'e, Database = Postgres>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Active>> {
    let rows: Vec<(i64, Vec<String>, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT id, matchers, created_by, ends_at, comment FROM silences
         WHERE starts_at <= $1 AND ends_at > $1 ORDER BY ends_at DESC, id",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, matchers, created_by, ends_at, comment)| {
            let matchers = matchers
                .iter()
                .map(|m| m.parse().ok())
                .collect::<Option<Vec<LabelMatcher>>>()?;
            Some(Active {
                id,
                matchers,
                created_by,
                ends_at,
                comment,
            })
        })
        .collect())
}

/// The alerts of `alerts` a silence of `matchers` would mute now (matched as the evaluator matches: the alert's
/// labels plus `alertname`, `severity`, `source` and `metric`), or the first matcher that does not parse.
pub fn preview(matchers: &[String], alerts: Vec<AlertInfo>) -> Result<Vec<AlertInfo>, AppError> {
    let matchers = LabelMatcher::parse_list(matchers)?;
    if matchers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(alerts
        .into_iter()
        .filter(|a| a.is_active())
        .filter(|a| {
            let labels = super::listed_alert_labels(a);
            matchers.iter().all(|m| m.matches(&labels))
        })
        .collect())
}

pub struct Silences {
    pool: PgPool,
    /// A silence without a start starts now; the list says which are active now.
    pub clock: Clock,
}

impl Silences {
    pub fn new(pool: PgPool, clock: Clock) -> Self {
        Silences { pool, clock }
    }

    /// Checks and stores a silence, naming every bad field at once.
    pub async fn create(&self, draft: &SilenceDraft, by: &str) -> Result<SilenceInfo, AppError> {
        let (matchers, starts_at, ends_at) = self.check(draft)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
        )
        .bind(matchers)
        .bind(starts_at)
        .bind(ends_at)
        .bind(draft.comment.trim())
        .bind(by)
        .fetch_one(&self.pool)
        .await
        .map_err(AppError::internal)?;
        self.get(id).await
    }

    /// Changes silence `id` in place (matchers, start, length, comment), checked as a new one is; who created it
    /// stays. An expired silence changed to end later is active again.
    pub async fn update(&self, id: i64, draft: &SilenceDraft) -> Result<SilenceInfo, AppError> {
        let (matchers, starts_at, ends_at) = self.check(draft)?;
        let changed = sqlx::query(
            "UPDATE silences SET matchers = $2, starts_at = $3, ends_at = $4, comment = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(matchers)
        .bind(starts_at)
        .bind(ends_at)
        .bind(draft.comment.trim())
        .execute(&self.pool)
        .await
        .map_err(AppError::internal)?;
        if changed.rows_affected() == 0 {
            return Err(AppError::NotFound);
        }
        self.get(id).await
    }

    async fn get(&self, id: i64) -> Result<SilenceInfo, AppError> {
        self.list()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(AppError::NotFound)
    }

    /// A draft's matchers (as stored), start and end, or every problem with it.
    fn check(
        &self,
        draft: &SilenceDraft,
    ) -> Result<(Vec<String>, DateTime<Utc>, DateTime<Utc>), AppError> {
        let mut problems = app::error::Problems::new();
        let matchers = problems.take(LabelMatcher::parse_list(&draft.matchers));
        if matchers.as_ref().is_some_and(Vec::is_empty) {
            problems.add(
                "matchers",
                "at least one matcher, e.g. alertname=Slow lookups",
            );
        }
        let starts_at = match draft
            .starts_at
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Some(self.clock.now()),
            Some(s) => problems.take(
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        AppError::invalid(
                            "starts_at",
                            format!("`{s}` is not a time such as 2026-12-01T18:00:00Z"),
                        )
                    }),
            ),
        };
        let duration = humantime::parse_duration(draft.duration.trim())
            .ok()
            .filter(|d| !d.is_zero() && *d <= std::time::Duration::from_secs(366 * 86400));
        if duration.is_none() {
            problems.add("duration", "a positive duration of at most a year, e.g. 2h");
        }
        problems.finish()?;
        let (Some(matchers), Some(starts_at), Some(duration)) = (matchers, starts_at, duration)
        else {
            unreachable!("every missing value was recorded as a problem");
        };
        let ends_at =
            starts_at + chrono::Duration::from_std(duration).map_err(AppError::internal)?;
        Ok((
            matchers.iter().map(ToString::to_string).collect(),
            starts_at,
            ends_at,
        ))
    }

    /// Every silence, newest first.
    pub async fn list(&self) -> Result<Vec<SilenceInfo>, AppError> {
        let rows: Vec<(i64, Vec<String>, DateTime<Utc>, DateTime<Utc>, String, String, bool)> = sqlx::query_as(
            "SELECT id, matchers, starts_at, ends_at, comment, created_by, starts_at <= $1 AND ends_at > $1
             FROM silences ORDER BY id DESC",
        )
        .bind(self.clock.now())
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(rows
            .into_iter()
            .map(|r| SilenceInfo {
                id: r.0,
                matchers: r.1,
                starts_at: r.2,
                ends_at: r.3,
                comment: r.4,
                created_by: r.5,
                active: r.6,
            })
            .collect())
    }

    pub async fn delete(&self, id: i64) -> Result<(), AppError> {
        super::delete_by_id(&self.pool, "silences", id).await
    }
}
