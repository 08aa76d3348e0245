//! Browser sessions in PostgreSQL: mcpulse's tower-sessions store.
//!
//! A record enters with [`SessionStore::create`] (sign-in), changes with [`SessionStore::save`] (an activity touch
//! extends its expiry, at most once a minute: see `app::engine::authorize`), and ends with
//! [`SessionStore::delete`]. It leaves through [`SessionStore::load`] for every request carrying its cookie and
//! through [`is_live`] for open websockets.
//!
//! What makes it safe under concurrent requests:
//! - Ending a record marks it (`ended_at`) instead of deleting it. Rotation at sign-in ends the old id while other
//!   requests of the same browser (another tab, a websocket) may still carry it: for [`ROTATION_GRACE`] they still
//!   load it, flagged with [`ENDED_KEY`], so they are neither refused nor answered with a cookie that removes the
//!   new one. Sign-out empties the record as it ends it ([`end`]), so it signs out at once.
//! - `save` only updates a record that has not ended: a request finishing after sign-out (or rotation) never
//!   brings its session back to life.
//! - Expiry is compared with the database's own `now()` (a `timestamptz`), whatever the server's `TimeZone`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// How long an ended (rotated) session id still works for requests already under way.
pub const ROTATION_GRACE: Duration = Duration::from_secs(30);

/// Set in the data of a record loaded during its grace period: it must not be saved or extended.
pub const ENDED_KEY: &str = "__ended";

#[derive(Clone)]
pub struct PgSessions {
    pool: PgPool,
}

impl std::fmt::Debug for PgSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgSessions")
    }
}

impl PgSessions {
    pub fn new(pool: PgPool) -> Self {
        PgSessions { pool }
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expiry(record: &Record) -> DateTime<Utc> {
    let nanos = record.expiry_date.unix_timestamp_nanos();
    DateTime::from_timestamp_nanos(nanos.clamp(0, i64::MAX as i128) as i64)
}

fn grace_secs() -> f64 {
    ROTATION_GRACE.as_secs_f64()
}

#[async_trait]
impl SessionStore for PgSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        record.data.remove(ENDED_KEY);
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        loop {
            let inserted = sqlx::query(
                "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2::jsonb, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(&data)
            .bind(expiry(record))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        if record.data.contains_key(ENDED_KEY) {
            return Ok(());
        }
        // Never re-creates a record that ended meanwhile: that request's user signed out or signed in again.
        sqlx::query(
            "UPDATE sessions SET data = $2::jsonb, expiry_date = $3 WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(record.id.to_string())
        .bind(serde_json::to_string(&record.data).map_err(backend)?)
        .bind(expiry(record))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, DateTime<Utc>, bool)> = sqlx::query_as(
            "SELECT data::text, expiry_date, ended_at IS NOT NULL FROM sessions
             WHERE id = $1 AND expiry_date > now()
               AND (ended_at IS NULL OR ended_at > now() - make_interval(secs => $2))",
        )
        .bind(id.to_string())
        .bind(grace_secs())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some((data, expiry_date, ended)) = row else {
            return Ok(None);
        };
        let mut data: std::collections::HashMap<String, serde_json::Value> =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        if ended {
            data.insert(ENDED_KEY.into(), serde_json::Value::Bool(true));
        }
        let expiry_date = time::OffsetDateTime::from_unix_timestamp_nanos(
            expiry_date.timestamp_nanos_opt().unwrap_or(i64::MAX) as i128,
        )
        .map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("UPDATE sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for PgSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query(
            "DELETE FROM sessions WHERE expiry_date <= now() OR ended_at <= now() - make_interval(secs => $1)",
        )
        .bind(grace_secs())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

/// Whether session `id` still signs its browser in: not expired, and not ended (an id rotated at sign-in counts
/// for its grace period; a signed-out one, emptied first, does not).
pub async fn is_live(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    let live: Option<bool> = sqlx::query_scalar(
        "SELECT expiry_date > now() AND (ended_at IS NULL
                OR ended_at > now() - make_interval(secs => $2) AND data <> '{}'::jsonb)
         FROM sessions WHERE id = $1",
    )
    .bind(id)
    .bind(grace_secs())
    .fetch_optional(pool)
    .await?;
    Ok(live == Some(true))
}

/// Signs session `id` out: emptied and ended in one statement, so no save of a request under way can bring its
/// data back during the grace period.
pub async fn end(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET data = '{}'::jsonb, ended_at = coalesce(ended_at, now()) WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
