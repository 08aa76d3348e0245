//! Users and passwords: argon2id hashes in the `users` table, username/password rules, and the sign-in check with
//! its attempt limits. Sessions are tower-sessions records in `sessions.rs`; the authorisation policy is
//! `app::engine::authorize`.

pub mod limiter;
pub mod sessions;
pub mod tokens;

use crate::clock::Clock;
use anyhow::Context;
use app::error::AppError;
use app::types::{Role, UserInfo};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use limiter::AttemptLimiter;
use sqlx::PgPool;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

pub const MIN_PASSWORD: usize = 8;
/// Hashing cost grows with length; nobody needs more.
pub const MAX_PASSWORD: usize = 1024;

/// A username that is safe to store and show: 1–64 of `A–Z a–z 0–9 . _ @ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Username, AppError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(AppError::invalid("username", "must be 1 to 64 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
        {
            return Err(AppError::invalid(
                "username",
                "may contain only letters, digits and . _ @ -",
            ));
        }
        Ok(Username(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password acceptable for a new account.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(s: &str) -> Result<NewPassword, AppError> {
        let n = s.chars().count();
        if n < MIN_PASSWORD {
            return Err(AppError::invalid(
                "password",
                format!("must be at least {MIN_PASSWORD} characters"),
            ));
        }
        if s.len() > MAX_PASSWORD {
            return Err(AppError::invalid(
                "password",
                format!("must be at most {MAX_PASSWORD} bytes"),
            ));
        }
        Ok(NewPassword(s.to_string()))
    }
}

/// Serialises role changes and deletions, so two admins demoting or deleting each other cannot both succeed.
async fn lock_users(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), AppError> {
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut **tx)
        .await
        .map_err(AppError::internal)?;
    Ok(())
}

/// Refuses to take away the last admin (nobody could manage users any more); call under [`lock_users`].
async fn refuse_last_admin(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), AppError> {
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin'")
        .fetch_one(&mut **tx)
        .await
        .map_err(AppError::internal)?;
    if admins <= 1 {
        return Err(AppError::Conflict(
            "this is the last admin: make someone else admin first".into(),
        ));
    }
    Ok(())
}

/// Hashes with argon2id (OWASP-recommended defaults of the `argon2` crate). CPU-heavy: runs on the blocking pool.
pub async fn hash_password(password: NewPassword) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await?
}

/// Checks a password against a stored hash on the blocking pool.
async fn verify_password(password: String, hash: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// Verified against when the user does not exist, so a wrong username costs as much time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"not a password", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    role: String,
    password_hash: String,
    session_epoch: i64,
}

impl UserRow {
    fn info(&self) -> UserInfo {
        UserInfo {
            id: self.id,
            username: self.username.clone(),
            role: self.role.parse().unwrap_or(Role::Viewer),
        }
    }
}

/// User accounts in PostgreSQL.
pub struct Users {
    pool: PgPool,
    limiter: AttemptLimiter,
    /// The time the attempt limiter counts failures by.
    clock: Clock,
}

impl Users {
    pub fn new(pool: PgPool) -> Self {
        // 5 failures per account, 20 per address, per 15 minutes.
        Users {
            pool,
            limiter: AttemptLimiter::new(Duration::from_secs(15 * 60), 20, 5),
            clock: Clock::system(),
        }
    }

    /// Users whose sign-in attempts are limited by `clock`'s time.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub async fn count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn create(
        &self,
        username: &Username,
        password: NewPassword,
        role: Role,
    ) -> Result<(UserInfo, i64), AppError> {
        let hash = hash_password(password).await.map_err(AppError::internal)?;
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(username.as_str())
        .bind(&hash)
        .bind(role.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        match row {
            Some((id,)) => Ok((
                UserInfo {
                    id,
                    username: username.as_str().to_string(),
                    role,
                },
                0,
            )),
            None => Err(AppError::invalid(
                "username",
                format!("`{}` already exists", username.as_str()),
            )),
        }
    }

    /// Creates the first admin atomically: refused once any user exists, even with concurrent requests.
    pub async fn create_first_admin(
        &self,
        username: &Username,
        password: NewPassword,
    ) -> Result<(UserInfo, i64), AppError> {
        let hash = hash_password(password).await.map_err(AppError::internal)?;
        let mut tx = self.pool.begin().await.map_err(AppError::internal)?;
        // Serialises concurrent first-run requests; released at commit.
        sqlx::query("LOCK TABLE users IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        if existing > 0 {
            return Err(AppError::Conflict(
                "Setup is already complete; sign in instead.".into(),
            ));
        }
        let id: i64 = sqlx::query_scalar("INSERT INTO users (username, password_hash, role) VALUES ($1, $2, 'admin') RETURNING id")
            .bind(username.as_str())
            .bind(&hash)
            .fetch_one(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok((
            UserInfo {
                id,
                username: username.as_str().to_string(),
                role: Role::Admin,
            },
            0,
        ))
    }

    /// Sets a new password and signs out every session of the user. Returns false if there is no such user.
    pub async fn set_password(
        &self,
        username: &str,
        password: NewPassword,
    ) -> anyhow::Result<bool> {
        let hash = hash_password(password).await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1, updated_at = now() WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .bind(&hash)
        .execute(&self.pool)
        .await
        .context("updating the password")?;
        Ok(done.rows_affected() == 1)
    }

    /// Changes user `id`'s role. The last admin cannot be demoted (nobody could manage users any more).
    pub async fn set_role(&self, id: i64, role: Role) -> Result<UserInfo, AppError> {
        let mut tx = self.pool.begin().await.map_err(AppError::internal)?;
        lock_users(&mut tx).await?;
        let current: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        let Some(current) = current else {
            return Err(AppError::NotFound);
        };
        if current == "admin" && role != Role::Admin {
            refuse_last_admin(&mut tx).await?;
        }
        // A changed role takes effect on the next request (sessions look the user up each time).
        let row: UserRow = sqlx::query_as(
            "UPDATE users SET role = $2, updated_at = now() WHERE id = $1
             RETURNING id, username, role, password_hash, session_epoch",
        )
        .bind(id)
        .bind(role.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(row.info())
    }

    /// Deletes user `id`: their sessions stop working at once (a session names a user that no longer exists). The
    /// last admin cannot be deleted.
    pub async fn delete(&self, id: i64) -> Result<UserInfo, AppError> {
        let mut tx = self.pool.begin().await.map_err(AppError::internal)?;
        lock_users(&mut tx).await?;
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, role, password_hash, session_epoch FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(AppError::internal)?;
        let Some(row) = row else {
            return Err(AppError::NotFound);
        };
        let user = row.info();
        if user.role == Role::Admin {
            refuse_last_admin(&mut tx).await?;
        }
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(user)
    }

    /// Signs out every session of user `id` (their cookies stop working at once).
    pub async fn revoke_sessions(&self, id: i64) -> Result<(), AppError> {
        let done = sqlx::query(
            "UPDATE users SET session_epoch = session_epoch + 1, updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(AppError::internal)?;
        if done.rows_affected() == 0 {
            return Err(AppError::NotFound);
        }
        Ok(())
    }

    /// The username of user `id`.
    pub async fn username(&self, id: i64) -> Result<String, AppError> {
        sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AppError::internal)?
            .ok_or(AppError::NotFound)
    }

    pub async fn list(&self) -> anyhow::Result<Vec<(UserInfo, chrono::DateTime<chrono::Utc>)>> {
        let rows: Vec<(i64, String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT id, username, role, created_at FROM users ORDER BY lower(username)",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, username, role, created)| {
                (
                    UserInfo {
                        id,
                        username,
                        role: role.parse().unwrap_or(Role::Viewer),
                    },
                    created,
                )
            })
            .collect())
    }

    pub async fn session_user(&self, id: i64, epoch: i64) -> anyhow::Result<Option<UserInfo>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, role, password_hash, session_epoch FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.filter(|r| r.session_epoch == epoch).map(|r| r.info()))
    }

    /// The sign-in check: attempt limits first, then the password. Every wrong credential gives the same error.
    pub async fn verify_login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(UserInfo, i64), AppError> {
        if let Err(wait) = self.limiter.check(client, username, self.clock.instant()) {
            tracing::warn!(client = %client, username, "sign-in refused: too many failed attempts");
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs(),
            });
        }
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, role, password_hash, session_epoch FROM users WHERE lower(username) = lower($1)")
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(AppError::internal)?;
        let too_long = password.len() > MAX_PASSWORD;
        let hash = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = !too_long
            && verify_password(password.to_string(), hash)
                .await
                .map_err(AppError::internal)?;
        match row {
            Some(row) if ok => {
                self.limiter.record_success(username);
                tracing::info!(user = %row.username, client = %client, "signed in");
                Ok((row.info(), row.session_epoch))
            }
            _ => {
                self.limiter
                    .record_failure(client, username, self.clock.instant());
                tracing::info!(client = %client, username, "sign-in failed");
                Err(AppError::InvalidCredentials)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked() {
        for (input, ok) in [
            ("alice", true),
            ("a.b_c@d-e", true),
            ("", false),
            ("bad name", false),
            ("<script>", false),
        ] {
            assert_eq!(Username::parse(input).is_ok(), ok, "{input:?}");
        }
        assert!(Username::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("long enough").is_ok());
        assert!(NewPassword::parse(&"x".repeat(MAX_PASSWORD + 1)).is_err());
    }
}
