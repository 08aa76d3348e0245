//! REST routes of reports: templates (list, create, change, delete, run now) and generated reports (list, one,
//! download, delete). Each handler checks the caller's role first, like every data route; the routes are listed in
//! [`super::DATA_ROUTES`].

use super::bad_body;
use super::caller::Caller;
use crate::report::template::Format;
use crate::state::AppState;
use app::engine::Engine;
use app::error::AppError;
use app::types::{ReportFilter, ReportTemplateDraft, Role};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::json;

fn id(text: &str) -> Result<i64, AppError> {
    text.parse().map_err(|_| AppError::NotFound)
}

/// `GET /api/report-templates` (viewer).
pub async fn templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let templates = state.engine.report_templates().await?;
    Ok(Json(json!({ "templates": templates })).into_response())
}

/// `POST /api/report-templates` (editor): creates a template from a JSON [`ReportTemplateDraft`]; 201.
pub async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<ReportTemplateDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    let Json(draft) = body.map_err(bad_body)?;
    let template = state
        .engine
        .create_report_template(&draft, &editor.username)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "template": template }))).into_response())
}

/// `PUT /api/report-templates/{id}` (editor): replaces a template.
pub async fn update_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(tid): Path<String>,
    body: Result<Json<ReportTemplateDraft>, JsonRejection>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    let tid = id(&tid)?;
    let Json(draft) = body.map_err(bad_body)?;
    let template = state
        .engine
        .update_report_template(tid, &draft, &editor.username)
        .await?;
    Ok(Json(json!({ "template": template })).into_response())
}

/// `DELETE /api/report-templates/{id}` (editor); 204.
pub async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(tid): Path<String>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    state
        .engine
        .delete_report_template(id(&tid)?, &editor.username)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The range of a run requested through the API (both or neither).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct RunRequest {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// `POST /api/report-templates/{id}/run` (editor), optionally `{"from", "to"}` (RFC 3339): generates a report in
/// the background; 202 with the report (status `running`). Without a range, the template's period ending now.
pub async fn run_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(tid): Path<String>,
    body: Result<Option<Json<RunRequest>>, JsonRejection>,
) -> Result<Response, AppError> {
    let editor = caller.authorize(&state, Role::Editor).await?;
    let tid = id(&tid)?;
    let request = body.map_err(bad_body)?.map(|Json(r)| r).unwrap_or_default();
    let report = match (request.from, request.to) {
        (None, None) => state.engine.generate_report(tid, &editor.username).await?,
        (Some(from), Some(to)) => {
            let reports = &state.engine.reports;
            let prepared = reports
                .prepare(tid, "manual", Some(&editor.username), Some((from, to)))
                .await?;
            let info = prepared.info.clone();
            reports.spawn_generate(prepared);
            info
        }
        _ => {
            return Err(AppError::invalid(
                "from",
                "give both `from` and `to`, or neither",
            ))
        }
    };
    Ok((StatusCode::ACCEPTED, Json(json!({ "report": report }))).into_response())
}

/// `GET /api/reports?template_id=&from=&to=&limit=` (viewer): generated reports, newest first.
pub async fn reports(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ReportFilter>, QueryRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let Query(filter) = query.map_err(|e| AppError::invalid("query", e.body_text()))?;
    let reports = state.engine.reports(&filter).await?;
    Ok(Json(json!({ "reports": reports })).into_response())
}

/// `GET /api/reports/{id}` (viewer): one report with its status, error and files.
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(rid): Path<String>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let report = state.engine.reports.report(id(&rid)?).await?;
    Ok(Json(json!({ "report": report })).into_response())
}

/// `DELETE /api/reports/{id}` (editor); 204.
pub async fn delete_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(rid): Path<String>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Editor).await?;
    state.engine.delete_report(id(&rid)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct FileQuery {
    /// Show in the browser instead of downloading.
    inline: bool,
}

/// `GET /api/reports/{id}/{format}` (viewer): the file of a succeeded report (`html`, `json`, `csv`) with its
/// content type and a file name; `?inline=true` shows it in the browser. 404 while running or after a failure.
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path((rid, format)): Path<(String, String)>,
    query: Result<Query<FileQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    caller.authorize(&state, Role::Viewer).await?;
    let Query(q) = query.map_err(|e| AppError::invalid("inline", e.body_text()))?;
    let format = Format::parse(&format).ok_or(AppError::NotFound)?;
    let (bytes, name) = state.engine.reports.file(id(&rid)?, format).await?;
    let disposition = format!(
        "{}; filename=\"{name}\"",
        if q.inline { "inline" } else { "attachment" }
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    // A report is data, never code: no script runs in it even if something slipped through escaping.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
