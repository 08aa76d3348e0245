//! API tokens: high-entropy secrets (`mcpulse_` + 64 hex digits) given to machines. Only their SHA-256 is stored
//! (a fast hash is enough for 256 random bits), with a name, scopes, an optional expiry and when it was last used.
//! Admins create and revoke them (CLI, server functions); requests present them as `Authorization: Bearer …`.

use app::error::AppError;
use app::types::TokenInfo;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

const PREFIX: &str = "mcpulse_";

pub use app::types::Scope;

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    role: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<Row> for TokenInfo {
    fn from(r: Row) -> Self {
        TokenInfo {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes,
            role: r.role.parse().unwrap_or(app::types::Role::Viewer),
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked: r.revoked_at.is_some(),
        }
    }
}

const COLUMNS: &str =
    "id, name, prefix, scopes, role, created_by, created_at, expires_at, last_used_at, revoked_at";

pub struct Tokens {
    pool: PgPool,
}

impl Tokens {
    pub fn new(pool: PgPool) -> Self {
        Tokens { pool }
    }

    /// Creates a token; the plaintext is returned once and never stored.
    pub async fn create(
        &self,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
        created_by: &str,
    ) -> Result<(TokenInfo, String), AppError> {
        self.create_with_role(
            name,
            scopes,
            expires_at,
            created_by,
            app::types::Role::Viewer,
        )
        .await
    }

    /// [`create`](Self::create) with the role the token acts with on `/mcp`.
    pub async fn create_with_role(
        &self,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
        created_by: &str,
        role: app::types::Role,
    ) -> Result<(TokenInfo, String), AppError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AppError::invalid("name", "must be 1 to 64 characters"));
        }
        if expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(AppError::invalid("expires", "must be in the future"));
        }
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!(
            "{PREFIX}{}",
            secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let row: Row = sqlx::query_as(&format!(
            "INSERT INTO api_tokens (name, token_hash, prefix, scopes, created_by, expires_at, role) VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING {COLUMNS}"
        ))
        .bind(name)
        .bind(hash(&token))
        .bind(&token[..PREFIX.len() + 6])
        .bind(&scopes)
        .bind(created_by)
        .bind(expires_at)
        .bind(role.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok((row.into(), token))
    }

    pub async fn list(&self) -> Result<Vec<TokenInfo>, AppError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes a token for good. `NotFound` if there is no such token.
    pub async fn revoke(&self, id: i64) -> Result<(), AppError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1",
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

    /// Checks an `Authorization` header value: a valid, unexpired, unrevoked token with `scope`.
    /// No header or an unknown token: `Unauthorized`; a valid token without the scope: `Forbidden`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        scope: Scope,
    ) -> Result<TokenInfo, AppError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| t.starts_with(PREFIX))
            .ok_or(AppError::Unauthorized)?;
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
        ))
        .bind(hash(token))
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        let row = row.ok_or(AppError::Unauthorized)?;
        if !row.scopes.iter().any(|s| s == scope.as_str()) {
            return Err(AppError::Forbidden);
        }
        // Recorded at most once a minute per token, so busy pushers do not write on every request.
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        )
        .bind(row.id)
        .execute(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(row.into())
    }

    /// Who a token acts as: its creator, with the token's role capped by the creator's current role (a demotion
    /// reaches their tokens at once). A token whose creator is not a user (made by the CLI) has its own role.
    pub async fn acting_as(&self, token: &TokenInfo) -> Result<app::types::UserInfo, AppError> {
        let creator: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT id, username, role FROM users WHERE lower(username) = lower($1)",
        )
        .bind(&token.created_by)
        .fetch_optional(&self.pool)
        .await
        .map_err(AppError::internal)?;
        Ok(match creator {
            Some((id, username, role)) => app::types::UserInfo {
                id,
                username,
                role: role
                    .parse::<app::types::Role>()
                    .map_or(app::types::Role::Viewer, |r| token.role.min(r)),
            },
            None => app::types::UserInfo {
                id: 0,
                username: format!("token:{}", token.name),
                role: token.role,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_deduplicate() {
        assert_eq!(
            Scope::parse_list("ingest, read,ingest").unwrap(),
            vec![Scope::Ingest, Scope::Read]
        );
        assert!(Scope::parse_list("").is_err());
        assert!(Scope::parse_list("admin").is_err());
    }
}
