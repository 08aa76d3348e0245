//! What every request handler shares: the engine, the store, the live hub, the token store and the settings the
//! routes need. Built once by `serve`, cloned into each handler by axum (`State<AppState>`); a leaf, so routes in
//! `api`, `http` and elsewhere depend on it rather than on each other.

use crate::engine::EngineImpl;
use crate::live::Hub;
use crate::store::Store;
use crate::telemetry::HttpTelemetry;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Everything request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub engine: Arc<EngineImpl>,
    pub store: Arc<Store>,
    pub hub: Arc<Hub>,
    pub telemetry: Arc<HttpTelemetry>,
    pub pool: PgPool,
    /// Cancelled when the server begins shutting down (closes websockets).
    pub shutdown: CancellationToken,
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    pub tokens: Arc<crate::auth::tokens::Tokens>,
    /// Samples older than this are refused (they would be dropped at once).
    pub retention: Duration,
    /// The time a pushed sample without its own timestamp is taken at.
    pub clock: crate::clock::Clock,
    /// What `/mcp` served (collected as source `self-mcp`).
    pub mcp: Arc<crate::mcp_server::McpTelemetry>,
    pub mcp_settings: crate::mcp_server::McpSettings,
    /// `server.request_timeout`.
    pub request_timeout: Duration,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
