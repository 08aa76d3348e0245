//! The HTTP front: one axum [`Router`] holding the Leptos pages and server functions, the REST data routes, `/ws`,
//! `/health` and `/ready`, wrapped in the session layer, the cross-site request guard, the page guard (sign-in and
//! first-run redirects) and mcpulse's own request telemetry. `router(state)` is a pure function of the state, so
//! tests can drive it without a socket.

use crate::auth::sessions::PgSessions;
use crate::state::AppState;
use app::engine::{authorize, SharedEngine};
use app::types::Role;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// Paths of the Leptos pages, which the page guard protects.
const PUBLIC_PAGES: &[&str] = &["/login", "/setup"];

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let page_paths: Arc<Vec<String>> =
        Arc::new(routes.iter().map(|r| r.path().to_string()).collect());
    let engine: SharedEngine = state.engine.clone();
    let context_engine = engine.clone();
    let options = state.leptos_options.clone();

    let session_layer = SessionManagerLayer::new(PgSessions::new(state.pool.clone()))
        .with_name("mcpulse_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.secure_cookies)
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(state.session_ttl).unwrap_or(time::Duration::days(7)),
        ));

    Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context::<SharedEngine>(context_engine.clone()),
            {
                let options = options.clone();
                move || app::shell(options.clone())
            },
        )
        .merge(crate::api::routes())
        .merge(crate::mcp_server::router(
            state.engine.clone(),
            state.mcp.clone(),
            &state.mcp_settings,
            state.tokens.clone(),
            state.shutdown.child_token(),
        ))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .nest_service("/pkg", crate::assets::service(pkg_dir(&options)))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(from_fn_with_state((engine, page_paths), page_guard))
        .layer(session_layer)
        .layer(from_fn_with_state(state.request_timeout, request_timeout))
        .layer(from_fn(cross_site_guard))
        // Pages and JSON compressed as the browser accepts (files under /pkg come precompressed; event streams and
        // tiny answers are left alone), at the fastest level: a day of 100 series (4 MB of JSON) took 130 ms more
        // to gzip at the default level, 20 ms at the fastest (28 % larger); nothing a signed-in user sees is kept
        // by a shared cache.
        .layer(
            tower_http::compression::CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest),
        )
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("private, no-cache"),
            ),
        )
        .layer(from_fn_with_state(
            state.telemetry.clone(),
            crate::telemetry::track,
        ))
        .with_state(state)
}

/// The directory `/pkg` is served from: `<site root>/<site pkg dir>`.
pub fn pkg_dir(options: &LeptosOptions) -> std::path::PathBuf {
    std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref())
}

/// Answers 503 when a request is still unanswered after `server.request_timeout`, abandoning its work (a write in
/// progress rolls back: nothing half-stored, nothing acknowledged). Streams are exempt: `/mcp`, `/ws` and report
/// downloads (`/api/reports/{id}/{format}`).
async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let download = path
        .strip_prefix("/api/reports/")
        .is_some_and(|rest| rest.split('/').count() == 2);
    if path == "/mcp" || path.starts_with("/mcp/") || path == "/ws" || download {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?limit, "request abandoned after server.request_timeout");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "error": format!("the request took longer than server.request_timeout ({}) and was abandoned; a write still under way was rolled back (one that had just committed stays)",
                        humantime::format_duration(limit))
                })),
            )
                .into_response()
        }
    }
}

/// `GET /health`: the process is alive.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the database answers and every migration is applied.
async fn ready(State(state): State<AppState>) -> Response {
    match crate::db::migrations_applied(&state.pool).await {
        Ok(true) => Json(json!({ "status": "ready", "database": "ok", "migrations": "applied" }))
            .into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "database": "ok", "migrations": "pending" })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}

/// Sends visitors of protected pages to sign-in, everyone to first-run setup while no user exists, and nobody to
/// setup afterwards. Only Leptos page paths are guarded; data routes answer 401/403 themselves.
async fn page_guard(
    State((engine, pages)): State<(SharedEngine, Arc<Vec<String>>)>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if request.method() != Method::GET || !pages.iter().any(|p| p == path) {
        return next.run(request).await;
    }
    let users = match engine.user_count().await {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    if users == 0 {
        return if path == "/setup" {
            next.run(request).await
        } else {
            Redirect::to("/setup").into_response()
        };
    }
    if path == "/setup" {
        return Redirect::to("/login").into_response();
    }
    if PUBLIC_PAGES.contains(&path) {
        return next.run(request).await;
    }
    match authorize(&session, engine.as_ref(), Role::Viewer).await {
        Ok(_) => next.run(request).await,
        Err(app::error::AppError::Unauthorized) => Redirect::to("/login").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Refuses state-changing requests that a browser sent on behalf of another site (CSRF), using `Sec-Fetch-Site`
/// where the browser sends it and `Origin` otherwise. Non-browser clients (no such headers) pass.
async fn cross_site_guard(request: Request, next: Next) -> Response {
    // `/mcp` takes no cookies (bearer tokens only) and checks `Origin` against `mcp.allowed_origins` itself.
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || request.uri().path() == "/mcp"
        || same_site(request.headers())
    {
        return next.run(request).await;
    }
    tracing::warn!(path = %request.uri().path(), "cross-site request refused");
    Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"error":"cross-site request refused"}"#))
        .unwrap_or_else(|_| StatusCode::FORBIDDEN.into_response())
}

fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = url::Url::parse(origin).ok().and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            });
            origin_host.is_some() && origin_host.as_deref() == host
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cross_site_requests_are_recognised() {
        let cases: &[(&[(&str, &str)], bool, &str)] = &[
            (&[], true, "no browser headers: API client"),
            (&[("sec-fetch-site", "same-origin")], true, "same origin"),
            (&[("sec-fetch-site", "none")], true, "user typed the URL"),
            (&[("sec-fetch-site", "cross-site")], false, "another site"),
            (
                &[("sec-fetch-site", "same-site")],
                false,
                "a sibling subdomain",
            ),
            (
                &[
                    ("origin", "http://localhost:8089"),
                    ("host", "localhost:8089"),
                ],
                true,
                "same origin, old browser",
            ),
            (
                &[
                    ("origin", "https://evil.example"),
                    ("host", "localhost:8089"),
                ],
                false,
                "other origin, old browser",
            ),
            (
                &[("origin", "null"), ("host", "localhost:8089")],
                false,
                "opaque origin",
            ),
        ];
        for (headers, want, why) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.insert(*k, HeaderValue::from_static(v));
            }
            assert_eq!(same_site(&map), *want, "{why}");
        }
    }
}
