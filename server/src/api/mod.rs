//! REST data routes and the `/ws` websocket. Every route is declared in [`DATA_ROUTES`] with the role it needs; the
//! router is built from that table and the role check is the first thing each handler does, via
//! [`caller::Caller::authorize`]: a browser's session goes through `app::engine::authorize` (the same policy server
//! functions use), an API token (`read` scope for GET, `write` for the rest) acts with its role.

pub mod caller;
pub mod exposition;
pub mod reports;

use crate::auth::tokens::Scope;
use crate::collect::push;
use crate::names::SourceId;
use crate::state::AppState;
use app::engine::{authorize, Engine};
use app::error::AppError;
use app::types::{ContactPointDraft, Role, RuleDraft, SilenceDraft, SourceDefinition};
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use caller::Caller;
use serde_json::json;
use tower_sessions::Session;

/// Every data route: method, path, minimum role. The authorisation test walks this table.
pub const DATA_ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/api/metrics", Role::Viewer),
    ("GET", "/api/sources", Role::Viewer),
    ("POST", "/api/sources", Role::Admin),
    ("PUT", "/api/sources/{id}", Role::Admin),
    ("DELETE", "/api/sources/{id}", Role::Admin),
    ("POST", "/api/sources/test", Role::Admin),
    ("GET", "/api/timeseries", Role::Viewer),
    ("GET", "/api/alerts", Role::Viewer),
    ("GET", "/api/alerts/history", Role::Viewer),
    ("GET", "/api/rules", Role::Viewer),
    ("POST", "/api/rules", Role::Editor),
    ("PUT", "/api/rules/{id}", Role::Editor),
    ("DELETE", "/api/rules/{id}", Role::Editor),
    ("POST", "/api/alerts/ack", Role::Editor),
    ("GET", "/api/silences", Role::Viewer),
    ("POST", "/api/silences", Role::Editor),
    ("POST", "/api/silences/preview", Role::Viewer),
    ("PUT", "/api/silences/{id}", Role::Editor),
    ("DELETE", "/api/silences/{id}", Role::Editor),
    ("GET", "/api/contact-points", Role::Admin),
    ("POST", "/api/contact-points", Role::Admin),
    ("PUT", "/api/contact-points/{id}", Role::Admin),
    ("POST", "/api/contact-points/{id}/test", Role::Admin),
    ("DELETE", "/api/contact-points/{id}", Role::Admin),
    ("GET", "/api/users", Role::Admin),
    ("GET", "/api/report-templates", Role::Viewer),
    ("POST", "/api/report-templates", Role::Editor),
    ("PUT", "/api/report-templates/{id}", Role::Editor),
    ("POST", "/api/report-templates/{id}/run", Role::Editor),
    ("GET", "/api/reports", Role::Viewer),
    ("GET", "/api/reports/{id}", Role::Viewer),
    ("GET", "/api/reports/{id}/{format}", Role::Viewer),
    ("DELETE", "/api/reports/{id}", Role::Editor),
    ("DELETE", "/api/report-templates/{id}", Role::Editor),
    ("GET", "/ws", Role::Viewer),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/metrics", get(current_metrics))
        .route("/api/sources", get(sources).post(create_source))
        // `POST /api/sources/test` shares the `{id}` route: a static `test` route beside it would answer
        // `PUT /api/sources/test` with 405 and make a source named `test` impossible to change.
        .route(
            "/api/sources/{id}",
            put(update_source).delete(delete_source).post(test_source),
        )
        .route("/api/timeseries", get(timeseries))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/history", get(alert_history))
        .route("/api/alerts/ack", axum::routing::post(acknowledge_alert))
        .route("/api/silences", get(silences).post(create_silence))
        .route(
            "/api/silences/preview",
            axum::routing::post(preview_silence),
        )
        .route(
            "/api/silences/{id}",
            axum::routing::put(update_silence).delete(delete_silence),
        )
        .route("/api/rules", get(rules).post(create_rule))
        .route("/api/rules/{id}", put(update_rule).delete(delete_rule))
        .route(
            "/api/contact-points",
            get(contact_points).post(create_contact_point),
        )
        .route(
            "/api/contact-points/{id}",
            put(update_contact_point).delete(delete_contact_point),
        )
        .route(
            "/api/contact-points/{id}/test",
            axum::routing::post(test_contact_point),
        )
        .route("/api/users", get(users))
        .route(
            "/api/report-templates",
            get(reports::templates).post(reports::create_template),
        )
        .route(
            "/api/report-templates/{id}",
            put(reports::update_template).delete(reports::delete_template),
        )
        .route(
            "/api/report-templates/{id}/run",
            axum::routing::post(reports::run_template),
        )
        .route("/api/reports", get(reports::reports))
        .route(
            "/api/reports/{id}",
            get(reports::report).delete(reports::delete_report),
        )
        .route("/api/reports/{id}/{format}", get(reports::file))
        .route("/ws", get(live_socket))
        .route("/metrics", get(prometheus_metrics))
        .route("/api/v1/ingest", axum::routing::post(ingest))
        .route("/v1/metrics", axum::routing::post(otlp_metrics))
}

/// Routes authorised by an API token (not a session): method, path, scope.
pub const TOKEN_ROUTES: &[(&str, &str, Scope)] = &[
    ("POST", "/api/v1/ingest", Scope::Ingest),
    ("POST", "/v1/metrics", Scope::Ingest),
    // MCP over Streamable HTTP (also GET and DELETE for a session's stream and end); see `crate::mcp_server`.
    ("POST", "/mcp", Scope::Mcp),
];

/// `POST /api/v1/ingest[?source=ID]`: push samples (JSON or Prometheus text, optionally gzip) with an API token
/// that has the `ingest` scope. The source defaults to the token's name.
async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, AppError> {
    let token = state
        .tokens
        .authenticate(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
            Scope::Ingest,
        )
        .await?;
    let source = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "source")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| token.name.clone());
    let source =
        SourceId::parse(&source).map_err(|e| AppError::invalid("source", e.to_string()))?;
    if state.engine.collector.is_scheduled(&source) || state.engine.sources.is_declared(&source) {
        return Err(AppError::invalid(
            "source",
            format!("`{source}` is collected by mcpulse itself; push under another id"),
        ));
    }
    let started = std::time::Instant::now();
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    // Decoded as it arrives: the request never holds its whole body (see `collect::push`).
    let samples = push::decode_stream(
        body,
        header_str(header::CONTENT_TYPE).unwrap_or_default(),
        header_str(header::CONTENT_ENCODING),
        source.clone(),
        state.clock.now(),
        state.retention,
    )
    .await?;
    admit(&state, [&source]).await?;
    // Not spawned: a request abandoned by its client or the request timeout rolls its transaction back, so what
    // was not acknowledged is not stored either. An unreachable database answers 503 (`AppError::internal`).
    let outcome = state.store.write(&samples).await.map_err(write_error)?;
    state
        .engine
        .collector
        .record_push(&source, &samples, outcome, started.elapsed());
    Ok(
        Json(json!({ "source": source, "accepted": outcome.stored, "rejected": outcome.rejected }))
            .into_response(),
    )
}

/// A refused batch (a sample beyond `storage.out_of_order_window`) is the caller's error, 400 naming the key;
/// anything else is the server's (503 when the database is unreachable).
fn write_error(e: anyhow::Error) -> AppError {
    match e.downcast_ref::<crate::store::TooLate>() {
        Some(late) => AppError::invalid("timestamp", late.to_string()),
        None => AppError::internal(e),
    }
}

/// Admits every pushed source (existing ones always, new ones within `ingest.max_sources`), before anything is
/// stored: a push beyond the limit is refused whole (429).
async fn admit<'a>(
    state: &AppState,
    sources: impl IntoIterator<Item = &'a SourceId>,
) -> Result<(), AppError> {
    for source in sources {
        match state.store.admit_source(source).await {
            Ok(Ok(())) => {}
            Ok(Err(limit)) => {
                tracing::warn!(source = %source, limit = limit.limit, "push refused: ingest.max_sources reached");
                return Err(AppError::LimitReached(limit.to_string()));
            }
            Err(e) => return Err(AppError::internal(e)),
        }
    }
    Ok(())
}

/// `POST /v1/metrics[?source=ID]`: OTLP/HTTP metrics (protobuf or JSON, optionally gzip) with an API token that
/// has the `ingest` scope; mapped onto series as `collect::otlp` documents. Answers an empty
/// `ExportMetricsServiceResponse` in the request's encoding once everything is committed.
async fn otlp_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, AppError> {
    use crate::collect::otlp;
    let token = state
        .tokens
        .authenticate(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
            Scope::Ingest,
        )
        .await?;
    let explicit = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "source")
        .map(|(_, v)| SourceId::parse(&v))
        .transpose()
        .map_err(|e| AppError::invalid("source", e.to_string()))?;
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    let encoding =
        otlp::Encoding::from_content_type(header_str(header::CONTENT_TYPE).unwrap_or(""))?;
    let started = std::time::Instant::now();
    let body = axum::body::to_bytes(body, push::MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            AppError::TooLarge(format!(
                "the body is larger than {} MiB",
                push::MAX_BODY_BYTES / (1024 * 1024)
            ))
        })?;
    let mut samples = otlp::decode(
        &body,
        encoding,
        header_str(header::CONTENT_ENCODING),
        explicit.as_ref(),
        &token.name,
        state.clock.now(),
        state.retention,
    )?;
    // Grouped by source in place (no second copy of the batch): one admission check and one push record each.
    drop(body);
    samples.sort_by(|a, b| a.source.cmp(&b.source));
    let by_source: Vec<&[crate::store::Sample]> =
        samples.chunk_by(|a, b| a.source == b.source).collect();
    for group in &by_source {
        let source = &group[0].source;
        if state.engine.collector.is_scheduled(source) || state.engine.sources.is_declared(source) {
            return Err(AppError::invalid(
                "source",
                format!(
                    "`{source}` is collected by mcpulse itself; push under another id (?source=)"
                ),
            ));
        }
    }
    let sources: Vec<SourceId> = by_source.iter().map(|g| g[0].source.clone()).collect();
    admit(&state, &sources).await?;
    let outcome = state.store.write(&samples).await.map_err(write_error)?;
    for group in &by_source {
        state
            .engine
            .collector
            .record_push(&group[0].source, group, outcome, started.elapsed());
    }
    Ok((
        [(header::CONTENT_TYPE, encoding.content_type())],
        encoding.success_body(),
    )
        .into_response())
}

/// Routes open to anyone on purpose: liveness, readiness and mcpulse's own operational counters (no user data).
pub const PUBLIC_ROUTES: &[&str] = &["/health", "/ready", "/metrics"];

/// `GET /metrics`: mcpulse's own metrics in the Prometheus text format.
async fn prometheus_metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let text = exposition::render(
        state.telemetry.clone(),
        state.engine.collector.clone(),
        state.store.rejected_samples(),
    )
    .map_err(AppError::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /api/sources`: every registered source with its health.
async fn sources(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    Ok(Json(json!({ "sources": state.engine.sources().await? })).into_response())
}

/// A JSON body that does not parse is named as field `body` (422), like any other invalid input.
pub(crate) fn bad_body(rejection: JsonRejection) -> AppError {
    AppError::invalid("body", rejection.body_text())
}

/// `POST /api/sources` (admin): creates a runtime source from a JSON [`SourceDefinition`]; 201 with its status.
async fn create_source(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<SourceDefinition>, JsonRejection>,
) -> Result<Response, AppError> {
    let admin = caller.authorize(&state, Role::Admin).await?;
    let Json(definition) = body.map_err(bad_body)?;
    let status = state
        .engine
        .create_source(&definition, &admin.username)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "source": status }))).into_response())
}

/// `PUT /api/sources/{id}` (admin): replaces a runtime source's definition (the `id` in the body may be omitted).
async fn update_source(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<SourceDefinition>, JsonRejection>,
) -> Result<Response, AppError> {
    let admin = caller.authorize(&state, Role::Admin).await?;
    let Json(definition) = body.map_err(bad_body)?;
    let id = SourceId::parse(&id).map_err(|e| AppError::invalid("id", e.to_string()))?;
    let status = state
        .engine
        .update_source(&id, &definition, &admin.username)
        .await?;
    Ok(Json(json!({ "source": status })).into_response())
}

/// `DELETE /api/sources/{id}` (admin): stops and deletes a runtime source; 204.
async fn delete_source(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let admin = caller.authorize(&state, Role::Admin).await?;
    let id = SourceId::parse(&id).map_err(|e| AppError::invalid("id", e.to_string()))?;
    state.engine.delete_source(&id, &admin.username).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/sources/test` (admin): one collection round of a JSON [`SourceDefinition`], stored nowhere.
async fn test_source(
    State(state): State<AppState>,
    caller: Caller,
    Path(action): Path<String>,
    body: Result<Json<SourceDefinition>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Admin).await?;
    if action != "test" {
        return Ok(StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    let Json(definition) = body.map_err(bad_body)?;
    Ok(Json(state.engine.test_source(&definition).await?).into_response())
}

/// `GET /api/timeseries?metric=…&sources=a,b&start=…&end=…&interval=…&aggregator=…&label=k=v&group_by=…&max_points=…&resolution=auto|raw&window=…`
/// (seed-compatible names; `aggregator=rate|increase` for counters, over `window`; `step`/`aggregation`/`source` also accepted). With one result series the seed's
/// `points: [{timestamp, value}]` is included too. `format=csv` (layout in `export`) or `format=json` makes it a download.
async fn timeseries(
    State(state): State<AppState>,
    caller: Caller,
    uri: axum::http::Uri,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let mut req = app::types::QueryRequest::default();
    let mut format = None;
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "format" => match value.as_str() {
                "json" | "csv" => format = Some(value),
                _ => return Err(AppError::invalid("format", "expected json or csv")),
            },
            "metric" => req.metric = value,
            "sources" => req.sources.extend(value.split(',').map(str::to_string)),
            "source" => req.sources.push(value),
            "start" => req.start = Some(value),
            "end" => req.end = Some(value),
            "interval" | "step" => req.step = Some(value),
            "aggregator" | "aggregation" => req.aggregation = Some(value),
            "label" | "match" => req.labels.push(value),
            "group_by" => req.group_by = Some(value),
            "resolution" => req.resolution = Some(value),
            "window" => req.window = Some(value),
            "max_points" => {
                req.max_points = Some(
                    value
                        .parse()
                        .map_err(|_| AppError::invalid("max_points", "expected a whole number"))?,
                )
            }
            other => return Err(AppError::invalid(other, "unknown query parameter")),
        }
    }
    if req.metric.is_empty() {
        return Err(AppError::invalid("metric", "required"));
    }
    let single = req.group_by.as_deref().is_none_or(str::is_empty);
    let result = state.engine.query(req).await?;
    // An explicit format is a download: named after the metric.
    let attachment = |ext: &str| {
        let name: String = result
            .metric
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("attachment; filename=\"{name}.{ext}\"")
    };
    if format.as_deref() == Some("csv") {
        let body = crate::export::series_csv(&result).map_err(AppError::internal)?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, attachment("csv")),
            ],
            body,
        )
            .into_response());
    }
    let disposition = format.is_some().then(|| attachment("json"));
    let with_disposition = |mut res: Response| {
        if let Some(d) = &disposition {
            if let Ok(v) = d.parse() {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
        }
        res
    };
    if !single {
        return Ok(with_disposition(Json(result).into_response()));
    }
    let mut body = serde_json::to_value(&result).map_err(AppError::internal)?;
    {
        let points: Vec<serde_json::Value> = result
            .series
            .first()
            .map(|s| {
                s.points
                    .iter()
                    .map(|p| json!({ "timestamp": chrono::DateTime::from_timestamp_millis(p.t), "value": p.v }))
                    .collect()
            })
            .unwrap_or_default();
        body["points"] = json!(points);
    }
    Ok(with_disposition(Json(body).into_response()))
}

/// `GET /api/alerts`: current alert states (pending, firing, resolved), firing first, as the seed names them.
async fn alerts(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    Ok(Json(json!({ "alerts": state.engine.alerts().await? })).into_response())
}

/// Query of `GET /api/alerts/history`.
#[derive(serde::Deserialize)]
struct HistoryQuery {
    rule_id: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/alerts/history[?rule_id=&limit=]`: the latest state changes and notices (default 100, at most 1000),
/// newest first.
async fn alert_history(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let axum::extract::Query(q) = query.map_err(|e| AppError::invalid("query", e.body_text()))?;
    let events = state
        .engine
        .alert_history(q.rule_id, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({ "events": events })).into_response())
}

/// Which alert to acknowledge.
#[derive(serde::Deserialize)]
struct AlertKey {
    rule_id: i64,
    series_id: i64,
}

/// `POST /api/alerts/ack` (editor) with `{"rule_id", "series_id"}`: acknowledges a pending or firing alert; 204.
async fn acknowledge_alert(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<AlertKey>, JsonRejection>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    let Json(key) = body.map_err(bad_body)?;
    state
        .engine
        .acknowledge_alert(key.rule_id, key.series_id, &editor.username)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/silences`: every silence, newest first, with whether it is active.
async fn silences(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    Ok(Json(json!({ "silences": state.engine.silences().await? })).into_response())
}

/// `POST /api/silences` (editor): creates a silence from a JSON [`SilenceDraft`]; 201.
async fn create_silence(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<SilenceDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    let Json(draft) = body.map_err(bad_body)?;
    let silence = state
        .engine
        .create_silence(&draft, &editor.username)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "silence": silence }))).into_response())
}

/// `POST /api/silences/preview` (viewer): the pending and firing alerts a silence with the draft's matchers would
/// mute now, as `{"alerts": [...]}`; a matcher that does not parse is a 422 naming `matchers`.
async fn preview_silence(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<SilenceDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let Json(draft) = body.map_err(bad_body)?;
    let alerts = state.engine.preview_silence(&draft.matchers).await?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

/// `PUT /api/silences/{id}` (editor): changes a silence in place from a JSON [`SilenceDraft`].
async fn update_silence(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<SilenceDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Editor).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let Json(draft) = body.map_err(bad_body)?;
    let silence = state.engine.update_silence(id, &draft).await?;
    Ok(Json(json!({ "silence": silence })).into_response())
}

/// `DELETE /api/silences/{id}` (editor): ends a silence by deleting it; 204.
async fn delete_silence(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Editor).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    state.engine.delete_silence(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/rules`: every alert rule.
async fn rules(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    Ok(Json(json!({ "rules": state.engine.rules().await? })).into_response())
}

/// `POST /api/rules` (editor): creates a rule from a JSON [`RuleDraft`]; 201 with the stored rule.
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RuleDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    let Json(draft) = body.map_err(bad_body)?;
    let rule = state.engine.create_rule(&draft, &editor.username).await?;
    Ok((StatusCode::CREATED, Json(json!({ "rule": rule }))).into_response())
}

/// `PUT /api/rules/{id}` (editor): replaces a rule.
async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<RuleDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Editor).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let Json(draft) = body.map_err(bad_body)?;
    let rule = state.engine.update_rule(id, &draft).await?;
    Ok(Json(json!({ "rule": rule })).into_response())
}

/// `DELETE /api/rules/{id}` (editor): deletes a rule with its alerts; 204.
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Editor).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    state.engine.delete_rule(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/contact-points` (admin): contact points with their queues; URLs redacted.
async fn contact_points(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Admin).await?;
    Ok(Json(json!({ "contact_points": state.engine.contact_points().await? })).into_response())
}

/// `POST /api/contact-points` (admin): creates one from a JSON [`ContactPointDraft`]; 201.
async fn create_contact_point(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<ContactPointDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    let admin = caller.authorize(&state, Role::Admin).await?;
    let Json(draft) = body.map_err(bad_body)?;
    let point = state
        .engine
        .create_contact_point(&draft, &admin.username)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "contact_point": point }))).into_response())
}

/// `PUT /api/contact-points/{id}` (admin): changes one (its queue stays; an empty `url` keeps the stored one).
async fn update_contact_point(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<ContactPointDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Admin).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let Json(draft) = body.map_err(bad_body)?;
    let point = state.engine.update_contact_point(id, &draft).await?;
    Ok(Json(json!({ "contact_point": point })).into_response())
}

/// `DELETE /api/contact-points/{id}` (admin): deletes one with its queue; 204.
async fn delete_contact_point(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Admin).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    state.engine.delete_contact_point(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/contact-points/{id}/test` (admin): sends a test notification now (not through the outbox) and
/// answers `{"delivered": bool, "message": …}`: what the receiver did, in words.
async fn test_contact_point(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Admin).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let (delivered, message) = state.engine.alerting.dispatcher.test(id).await?;
    Ok(Json(json!({ "delivered": delivered, "message": message })).into_response())
}

/// `GET /api/users` (admin): every account with its role.
async fn users(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Admin).await?;
    let users = state.engine.list_users().await?;
    Ok(Json(json!({ "users": users })).into_response())
}

/// `GET /api/metrics`: the current value of every metric of every source, grouped by source.
async fn current_metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
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
    let user = authorize(&session, state.engine.as_ref(), Role::Viewer).await?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let (engine, pool) = (state.engine.clone(), state.pool.clone());
    let client = crate::live::ClientSession {
        user: user.id,
        still_valid: Box::new(move || {
            let (session, engine, pool) = (session.clone(), engine.clone(), pool.clone());
            Box::pin(async move {
                // The session object keeps its record in memory: ask the store whether it still exists (a sign-out
                // deletes it) and has not expired, then whether its user and epoch still hold.
                let id = session.id().map(|id| id.to_string()).unwrap_or_default();
                if let Ok(false) = crate::auth::sessions::is_live(&pool, &id).await {
                    return false;
                }
                !matches!(
                    authorize(&session, engine.as_ref(), Role::Viewer).await,
                    Err(AppError::Unauthorized | AppError::Forbidden)
                )
            })
        }),
    };
    let (hub, shutdown) = (state.hub.clone(), state.shutdown.clone());
    Ok(ws.on_upgrade(move |socket| async move {
        crate::live::serve_client(socket, &hub, client, shutdown).await
    }))
}
