//! The seam between the UI and the engine (server only).
//!
//! `server` implements [`Engine`] and provides it as `Arc<dyn Engine>` through Leptos context; server functions call it
//! and nothing else, so the UI stays a thin client and `app` never depends on `server`. Authorisation lives here too:
//! [`authorize`] is the one policy every server function (through [`require_role`]) and every REST data route applies
//! first.

use crate::error::AppError;
use crate::names::SourceId;
use crate::types::{
    AlertEvent, AlertInfo, ContactPointDraft, ContactPointInfo, ContactPointTest, CreatedToken,
    CurrentValue, McpServerView, MetricCatalog, QueryRequest, QueryResult, ReportFilter,
    ReportInfo, ReportTemplateDraft, ReportTemplateInfo, Role, RuleDraft, RuleInfo, SilenceDraft,
    SilenceInfo, SourceDefinition, SourceStatus, SourceTestResult, TokenInfo, TokenRequest,
    UserInfo,
};
use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::Arc;
use tower_sessions::Session;

/// What the UI may ask of the engine. All methods are cheap enough for a request path.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Number of users; zero means first-run setup is open.
    async fn user_count(&self) -> Result<i64, AppError>;
    /// The user behind a session, if it still exists and `epoch` is current (a password change or session revocation
    /// bumps the epoch and so signs out every session of the user).
    async fn session_user(&self, user_id: i64, epoch: i64) -> Result<Option<UserInfo>, AppError>;
    /// Ends browser session `id` at once, emptying it in the same statement (sign-out): no request under way can
    /// write it back.
    async fn end_session(&self, id: &str) -> Result<(), AppError>;
    /// Checks a password, applying the per-address and per-account attempt limits. Returns the user and its session
    /// epoch.
    async fn verify_login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(UserInfo, i64), AppError>;
    /// Creates the first admin, only while no user exists.
    async fn create_first_admin(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(UserInfo, i64), AppError>;
    /// Every user account.
    async fn list_users(&self) -> Result<Vec<UserInfo>, AppError>;
    /// Creates an account (`Invalid` names a bad username or password).
    async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
        by: &str,
    ) -> Result<UserInfo, AppError>;
    /// Changes a role; refuses to demote the last admin.
    async fn set_user_role(&self, id: i64, role: Role, by: &str) -> Result<UserInfo, AppError>;
    /// Sets a new password and signs the user out everywhere.
    async fn reset_password(&self, id: i64, password: &str, by: &str) -> Result<(), AppError>;
    /// Deletes an account (never the last admin, never the caller's own) and closes its sessions.
    async fn delete_user(&self, id: i64, by: &str) -> Result<(), AppError>;
    /// Signs the user out everywhere.
    async fn revoke_sessions(&self, id: i64, by: &str) -> Result<(), AppError>;
    /// Creates an API token as `request` (checked by [`TokenRequest::parse`]) says.
    async fn create_token(
        &self,
        request: &TokenRequest,
        created_by: &str,
    ) -> Result<CreatedToken, AppError>;
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, AppError>;
    async fn revoke_token(&self, id: i64) -> Result<(), AppError>;
    /// Every source with its health.
    async fn sources(&self) -> Result<Vec<SourceStatus>, AppError>;
    /// Creates a runtime source (stored, then collected when enabled); `by` is the admin's username.
    async fn create_source(
        &self,
        definition: &SourceDefinition,
        by: &str,
    ) -> Result<SourceStatus, AppError>;
    /// Replaces the definition of runtime source `id`. Sources of `mcpulse.toml` are refused (conflict).
    async fn update_source(
        &self,
        id: &SourceId,
        definition: &SourceDefinition,
        by: &str,
    ) -> Result<SourceStatus, AppError>;
    /// Stops and deletes runtime source `id`.
    async fn delete_source(&self, id: &SourceId, by: &str) -> Result<(), AppError>;
    /// One collection round of `definition`, stored nowhere.
    async fn test_source(
        &self,
        definition: &SourceDefinition,
    ) -> Result<SourceTestResult, AppError>;
    /// Latest value of every metric of every source.
    async fn current_values(&self) -> Result<Vec<CurrentValue>, AppError>;
    /// Every metric with its sources and label names.
    async fn catalog(&self) -> Result<Vec<MetricCatalog>, AppError>;
    /// Runs a time-series query.
    async fn query(&self, request: QueryRequest) -> Result<QueryResult, AppError>;
    /// Every alert rule.
    async fn rules(&self) -> Result<Vec<RuleInfo>, AppError>;
    /// Checks and stores a rule (`Invalid` names the bad field).
    async fn create_rule(&self, draft: &RuleDraft, by: &str) -> Result<RuleInfo, AppError>;
    async fn update_rule(&self, id: i64, draft: &RuleDraft) -> Result<RuleInfo, AppError>;
    async fn delete_rule(&self, id: i64) -> Result<(), AppError>;
    /// Alerts that are pending, firing or resolved.
    async fn alerts(&self) -> Result<Vec<AlertInfo>, AppError>;
    /// The latest `limit` history entries, newest first (of one rule if `rule_id`).
    async fn alert_history(
        &self,
        rule_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AlertEvent>, AppError>;
    /// Contact points, URLs redacted.
    async fn contact_points(&self) -> Result<Vec<ContactPointInfo>, AppError>;
    async fn create_contact_point(
        &self,
        draft: &ContactPointDraft,
        by: &str,
    ) -> Result<ContactPointInfo, AppError>;
    /// Changes a contact point; an empty URL keeps the stored one (the list shows it redacted).
    async fn update_contact_point(
        &self,
        id: i64,
        draft: &ContactPointDraft,
    ) -> Result<ContactPointInfo, AppError>;
    async fn delete_contact_point(&self, id: i64) -> Result<(), AppError>;
    /// The rule as drafted, replayed by the alert engine over the last [`crate::types::BACKTEST_HOURS`].
    async fn backtest_rule(
        &self,
        draft: &crate::types::RuleDraft,
    ) -> Result<crate::types::RuleBacktest, AppError>;
    /// The pending and firing alerts a silence of `matchers` would mute now.
    async fn preview_silence(&self, matchers: &[String]) -> Result<Vec<AlertInfo>, AppError>;
    /// Sends a test notification to contact point `id` now (not through the queue): whether it arrived, in words.
    async fn test_contact_point(&self, id: i64) -> Result<ContactPointTest, AppError>;
    /// Acknowledges a pending or firing alert (its repeats stop until it resolves).
    async fn acknowledge_alert(
        &self,
        rule_id: i64,
        series_id: i64,
        by: &str,
    ) -> Result<(), AppError>;
    async fn silences(&self) -> Result<Vec<SilenceInfo>, AppError>;
    async fn create_silence(&self, draft: &SilenceDraft, by: &str)
        -> Result<SilenceInfo, AppError>;
    /// Changes silence `id` in place (its creator stays).
    async fn update_silence(&self, id: i64, draft: &SilenceDraft) -> Result<SilenceInfo, AppError>;
    async fn delete_silence(&self, id: i64) -> Result<(), AppError>;
    /// Every report template with its next due time.
    async fn report_templates(&self) -> Result<Vec<ReportTemplateInfo>, AppError>;
    /// Checks and stores a template (`Invalid` names the bad field).
    async fn create_report_template(
        &self,
        draft: &ReportTemplateDraft,
        by: &str,
    ) -> Result<ReportTemplateInfo, AppError>;
    async fn update_report_template(
        &self,
        id: i64,
        draft: &ReportTemplateDraft,
        by: &str,
    ) -> Result<ReportTemplateInfo, AppError>;
    async fn delete_report_template(&self, id: i64, by: &str) -> Result<(), AppError>;
    /// Starts generating a report of template `id` off the request path; returns it as running.
    async fn generate_report(&self, id: i64, by: &str) -> Result<ReportInfo, AppError>;
    /// Generated reports, newest first.
    async fn reports(&self, filter: &ReportFilter) -> Result<Vec<ReportInfo>, AppError>;
    async fn delete_report(&self, id: i64) -> Result<(), AppError>;
    /// Probed MCP servers with their tools, latency and errors over the last `window`, and schema history.
    async fn mcp_servers(
        &self,
        window: std::time::Duration,
    ) -> Result<Vec<McpServerView>, AppError>;
}

pub type SharedEngine = Arc<dyn Engine>;

const SESSION_USER: &str = "uid";
const SESSION_EPOCH: &str = "epoch";
/// When the session was last extended (unix seconds).
const SESSION_TOUCHED: &str = "touched";
/// Set by the server's session store on a session id rotated away at sign-in and still in its grace period.
const SESSION_ENDED: &str = "__ended";
/// An active session's expiry is pushed back (one write) at most this often (or every half TTL, if shorter).
const TOUCH_EVERY_SECS: i64 = 60;

/// The one authorisation policy: the session must belong to an existing user whose role is at least `min`.
/// Without a valid session: [`AppError::Unauthorized`]; with too low a role: [`AppError::Forbidden`].
pub async fn authorize(
    session: &Session,
    engine: &dyn Engine,
    min: Role,
) -> Result<UserInfo, AppError> {
    let user_id: Option<i64> = session
        .get(SESSION_USER)
        .await
        .map_err(AppError::internal)?;
    let epoch: Option<i64> = session
        .get(SESSION_EPOCH)
        .await
        .map_err(AppError::internal)?;
    let (Some(user_id), Some(epoch)) = (user_id, epoch) else {
        return Err(AppError::Unauthorized);
    };
    let Some(user) = engine.session_user(user_id, epoch).await? else {
        // The user was deleted or its sessions revoked: forget this one for good.
        session.flush().await.map_err(AppError::internal)?;
        return Err(AppError::Unauthorized);
    };
    if user.role < min {
        return Err(AppError::Forbidden);
    }
    touch(session).await?;
    Ok(user)
}

/// Activity extends the session: the store saves it (pushing its expiry `auth.session_ttl` ahead) when it was
/// last extended a minute or more ago. A rotated id in its grace period is never extended.
async fn touch(session: &Session) -> Result<(), AppError> {
    let ended: Option<bool> = session
        .get(SESSION_ENDED)
        .await
        .map_err(AppError::internal)?;
    if ended.is_some() {
        return Ok(());
    }
    let every = match session.expiry() {
        Some(tower_sessions::Expiry::OnInactivity(ttl)) => {
            TOUCH_EVERY_SECS.min(ttl.whole_seconds() / 2).max(1)
        }
        _ => TOUCH_EVERY_SECS,
    };
    let now = chrono::Utc::now().timestamp();
    let touched: Option<i64> = session
        .get(SESSION_TOUCHED)
        .await
        .map_err(AppError::internal)?;
    if touched.is_none_or(|t| now - t >= every) {
        session
            .insert(SESSION_TOUCHED, now)
            .await
            .map_err(AppError::internal)?;
    }
    Ok(())
}

/// Binds `user` to the session under a fresh session id (so a fixated id is worthless).
pub async fn sign_in(session: &Session, user: &UserInfo, epoch: i64) -> Result<(), AppError> {
    // Nothing of the previous session carries over (another user's id, the store's grace flag).
    session.clear().await;
    session.cycle_id().await.map_err(AppError::internal)?;
    session
        .insert(SESSION_USER, user.id)
        .await
        .map_err(AppError::internal)?;
    session
        .insert(SESSION_EPOCH, epoch)
        .await
        .map_err(AppError::internal)?;
    session
        .insert(SESSION_TOUCHED, chrono::Utc::now().timestamp())
        .await
        .map_err(AppError::internal)?;
    Ok(())
}

/// Ends the session server-side at once (emptied and ended in one statement); its cookie is worthless
/// afterwards, also for requests still under way with it.
pub async fn sign_out(session: &Session, engine: &dyn Engine) -> Result<(), AppError> {
    if let Some(id) = session.id() {
        engine.end_session(&id.to_string()).await?;
    }
    session.flush().await.map_err(AppError::internal)
}

/// The engine provided to server functions.
///
/// It is missing only where no request is being served: server-side rendering resolves the resources of nested
/// `Suspend`s once in a pass whose owner is then discarded (its results are never shown), so this is not an error
/// worth an operator's attention and is only logged at debug level.
pub fn engine() -> Result<SharedEngine, AppError> {
    leptos::prelude::use_context::<SharedEngine>().ok_or_else(|| {
        tracing::debug!("no engine in context: a discarded server-side render pass");
        AppError::Internal("no-request".into())
    })
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(AppError::internal)
}

/// The first line of every server function: [`authorize`] for the current request.
pub async fn require_role(min: Role) -> Result<UserInfo, AppError> {
    authorize(&session().await?, engine()?.as_ref(), min).await
}

/// The body of every server function but sign-in and setup: the caller must hold at least `min` (else 401 or
/// 403), then `body` runs with the engine and the caller; a failed call answers with its error's HTTP status.
pub async fn serve_as<T, F, Fut>(min: Role, body: F) -> Result<T, AppError>
where
    F: FnOnce(SharedEngine, UserInfo) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    respond(
        async {
            let caller = require_role(min).await?;
            body(engine()?, caller).await
        }
        .await,
    )
}

/// Wraps a server function's result: an error sets the response's HTTP status to match it.
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        set_status(e);
    }
    result
}

/// Sets the HTTP status of the current server-function response to match `error` — unless a browser posted the
/// form itself: that answer must stay the redirect back to the page (which carries the error in its URL).
pub fn set_status(error: &AppError) {
    if posted_by_browser() {
        return;
    }
    if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = axum::http::StatusCode::from_u16(error.status_code()) {
            options.set_status(status);
        }
    }
}

/// Whether the current request is a form the browser posted itself (the page was not interactive yet, or runs
/// without script): it accepts HTML, and leptos answers it with a redirect back to the page.
pub fn posted_by_browser() -> bool {
    leptos::prelude::use_context::<axum::http::request::Parts>().is_some_and(|parts| {
        // Not a page being rendered (whose server functions run in-process): a server function's own request.
        parts.method == axum::http::Method::POST
            && parts.uri.path().starts_with("/api/fn/")
            && parts
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
    })
}

/// Where a token created by a form the browser posted itself waits for the page it is redirected to: its secret
/// is shown there once, then forgotten (it is never put in a URL). Kept a minute at most: a browser that sends no
/// `Referer` is redirected elsewhere, and the secret must not wait in the session store for a later visit.
const SESSION_NEW_TOKEN: &str = "__new_token";
const NEW_TOKEN_KEPT_MS: i64 = 60_000;

/// Keeps `token` for the next page of this session (see [`SESSION_NEW_TOKEN`]).
pub async fn keep_new_token(token: &CreatedToken) -> Result<(), AppError> {
    let kept = (token, chrono::Utc::now().timestamp_millis());
    session()
        .await?
        .insert(SESSION_NEW_TOKEN, kept)
        .await
        .map_err(AppError::internal)
}

/// The token kept by [`keep_new_token`] within the last minute, taken out of the session. A session without one is
/// not written to (a removal would save the whole session on every visit).
pub async fn take_new_token() -> Result<Option<CreatedToken>, AppError> {
    let session = session().await?;
    let kept: Option<(CreatedToken, i64)> = session
        .get(SESSION_NEW_TOKEN)
        .await
        .map_err(AppError::internal)?;
    let Some((token, at)) = kept else {
        return Ok(None);
    };
    session
        .remove_value(SESSION_NEW_TOKEN)
        .await
        .map_err(AppError::internal)?;
    let fresh = chrono::Utc::now().timestamp_millis() - at <= NEW_TOKEN_KEPT_MS;
    Ok(fresh.then_some(token))
}

/// The client address of the current request (unspecified when it cannot be known).
pub async fn client_ip() -> IpAddr {
    match leptos_axum::extract::<axum::Extension<ClientIp>>().await {
        Ok(axum::Extension(ClientIp(ip))) => ip,
        Err(_) => IpAddr::from([0, 0, 0, 0]),
    }
}

/// The client address of a request, put in the request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);
