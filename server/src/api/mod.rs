//! REST data routes and the `/ws` websocket. Every route is declared in [`DATA_ROUTES`] with the role it needs; the
//! router is built from that table and the role check is the first thing each handler does, via
//! `app::engine::authorize` — the same policy server functions use.

use crate::http::AppState;
use app::engine::{authorize, Engine};
use app::error::AppError;
use app::types::Role;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_sessions::Session;

/// Every data route: method, path, minimum role. The authorisation test walks this table.
pub const DATA_ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/api/metrics", Role::Viewer),
    ("GET", "/api/users", Role::Admin),
    ("GET", "/ws", Role::Viewer),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/metrics", get(current_metrics))
        .route("/api/users", get(users))
        .route("/ws", get(live_socket))
}

/// `GET /api/users` (admin): every account with its role.
async fn users(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    authorize(&session, state.engine.as_ref(), Role::Admin).await?;
    let users = state.engine.list_users().await?;
    Ok(Json(json!({ "users": users })).into_response())
}

/// `GET /api/metrics`: the current value of every metric of every source, grouped by source.
async fn current_metrics(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    authorize(&session, state.engine.as_ref(), Role::Viewer).await?;
    let values = state
        .store
        .current_values()
        .await
        .map_err(AppError::internal)?;
    let mut by_source = serde_json::Map::new();
    for v in values {
        let entry = by_source
            .entry(v.source.clone())
            .or_insert_with(|| json!({ "source_id": v.source, "timestamp": v.at, "metrics": {} }));
        if entry["timestamp"]
            .as_str()
            .is_some_and(|t| t < v.at.to_rfc3339().as_str())
        {
            entry["timestamp"] = json!(v.at);
        }
        entry["metrics"][&v.metric] = json!(v.value);
    }
    Ok(
        Json(json!({ "sources": by_source.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }))
            .into_response(),
    )
}

/// `GET /ws`: live samples for signed-in users.
async fn live_socket(
    State(state): State<AppState>,
    session: Session,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    authorize(&session, state.engine.as_ref(), Role::Viewer).await?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let rx = state.hub.subscribe();
    let shutdown = state.shutdown.clone();
    Ok(ws.on_upgrade(move |socket| crate::live::serve_client(socket, rx, shutdown)))
}
