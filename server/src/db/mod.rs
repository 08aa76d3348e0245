//! The database: a connection pool to PostgreSQL — the server named by `database.url`, or the private cluster of
//! [`embedded`] — and the schema in `migrations/`, embedded at compile time and applied on start and by
//! `mcpulse migrate`.

pub mod embedded;

use crate::config::Config;
use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How the process uses the private cluster when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterOwnership {
    /// `mcpulse serve`: stop the cluster at exit even if it was found running.
    Owner,
    /// One-shot commands: stop it only if this process started it.
    Guest,
}

/// An open database: the pool plus, for the zero-setup mode, the private cluster behind it.
pub struct Database {
    pub pool: PgPool,
    cluster: Option<(embedded::Cluster, ClusterOwnership)>,
}

impl Database {
    pub async fn open(config: &Config, ownership: ClusterOwnership) -> anyhow::Result<Database> {
        let (options, cluster) = match &config.database.url {
            Some(url) => (
                PgConnectOptions::from_str(url).context("parsing database.url")?,
                None,
            ),
            None => {
                let data_dir = config.database.data_dir.clone();
                let cluster =
                    tokio::task::spawn_blocking(move || embedded::Cluster::start(&data_dir))
                        .await??;
                cluster.ensure_database().await?;
                (cluster.connect_options(), Some((cluster, ownership)))
            }
        };
        let pool = pool_options(config.database.max_connections)
            .connect_with(session_settings(options))
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Database { pool, cluster })
    }

    /// Closes the pool and stops the private cluster if this process should.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some((cluster, ownership)) = self.cluster {
            if ownership == ClusterOwnership::Owner || cluster.started_here() {
                if let Err(e) = cluster.stop().await {
                    tracing::warn!(error = %e, "stopping the private PostgreSQL failed");
                }
            }
        }
    }
}

/// A connection idle inside a transaction this long is ended by the server (its transaction rolled back), so a
/// transaction left open by a bug can never hold locks or hide writes for longer.
pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5min";

/// Every mcpulse connection's server settings.
pub fn session_settings(options: PgConnectOptions) -> PgConnectOptions {
    options.options([(
        "idle_in_transaction_session_timeout",
        IDLE_IN_TRANSACTION_TIMEOUT,
    )])
}

/// The pool's settings: at most `max_connections`, a 10 s wait for one, and a check on every release that the
/// connection is not inside a transaction.
///
/// sqlx 0.8 can hand back a connection whose `BEGIN` reached the server while the future that sent it was
/// cancelled: the server is then inside a transaction that sqlx does not know of, and every later statement on that
/// connection would run in it, unseen by others and lost when the connection closes. Inside a transaction `now()`
/// is the transaction's start, before the statement's own start (asked in one simple-protocol message, where the
/// two are equal outside a transaction); such a connection is closed (rolling it back) instead of reused.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_release(|conn, _meta| {
            Box::pin(async move {
                use sqlx::{Executor, Row};
                // A plain string runs as one simple query (no Parse/Bind/Execute, each with its own timestamp).
                let row = conn
                    .fetch_one("SELECT now() = statement_timestamp()")
                    .await?;
                let outside: bool = row.try_get(0)?;
                if !outside {
                    tracing::warn!("a pooled connection was left inside a transaction; closed");
                }
                Ok(outside)
            })
        })
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")?;
    Ok(())
}

/// True when every embedded migration has been applied successfully.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.contains(&m.version)))
}
