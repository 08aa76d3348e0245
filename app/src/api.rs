//! Typed server functions: the UI's only door into the engine. Each one starts with `require_role(..)` (sign-in and
//! first-run setup are the public exceptions and say so), then asks the [`Engine`](crate::engine::Engine) from context.
//! Each body runs inside `respond(..)`, which gives a failed call the HTTP status of its error (401, 403, 422, …).

use crate::error::AppError;
use crate::types::{
    CreatedToken, DashboardData, QueryRequest, QueryResult, SourceDefinition, SourceStatus,
    SourceTestResult, TokenInfo, UserInfo,
};
use leptos::prelude::*;

/// How much history the dashboard chart shows.
pub const DASHBOARD_WINDOW_SECS: i64 = 15 * 60;

/// The signed-in user.
#[server(prefix = "/api/fn", endpoint = "me", output = crate::codec::Answer)]
pub async fn current_user() -> Result<UserInfo, AppError> {
    use crate::engine::{require_role, respond};
    use crate::types::Role;
    respond(require_role(Role::Viewer).await)
}

/// Public: signs in. Rate-limited per client address and per account; one generic message for every wrong credential.
#[server(prefix = "/api/fn", endpoint = "login", output = crate::codec::Answer)]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use crate::engine::{client_ip, engine, respond, session, sign_in};
    respond(
        async {
            let (user, epoch) = engine()?
                .verify_login(username.trim(), &password, client_ip().await)
                .await?;
            sign_in(&session().await?, &user, epoch).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Public only while no user exists: creates the first admin and signs it in.
#[server(prefix = "/api/fn", endpoint = "setup", output = crate::codec::Answer)]
pub async fn setup(username: String, password: String, confirm: String) -> Result<(), AppError> {
    use crate::engine::{engine, respond, session, sign_in};
    respond(
        async {
            if password != confirm {
                return Err(AppError::invalid("confirm", "the two passwords differ"));
            }
            let (user, epoch) = engine()?
                .create_first_admin(username.trim(), &password)
                .await?;
            sign_in(&session().await?, &user, epoch).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Signs out: the session is deleted server-side.
#[server(prefix = "/api/fn", endpoint = "logout", output = crate::codec::Answer)]
pub async fn logout() -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond, session, sign_out};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            sign_out(&session().await?, engine()?.as_ref()).await?;
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

/// The dashboard's first render: current values, sources, and the last 15 minutes of the charted series, named
/// `source/metric` (default `self/requests_total`).
#[server(prefix = "/api/fn", endpoint = "dashboard", output = crate::codec::Answer)]
pub async fn dashboard(chart: String) -> Result<DashboardData, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let user = require_role(Role::Viewer).await?;
            let (source, metric) = parse_chart(&chart)?;
            let engine = engine()?;
            let values = engine.current_values().await?;
            let sources = engine.sources().await?;
            let result = engine.query(chart_query(&source, &metric)).await?;
            let points = result
                .series
                .into_iter()
                .next()
                .map(|s| s.points)
                .unwrap_or_default();
            let now_ms = chrono::Utc::now().timestamp_millis();
            let alerts = engine
                .alerts()
                .await?
                .into_iter()
                .filter(|a| a.is_active())
                .collect();
            Ok(DashboardData {
                alerts,
                user,
                values,
                sources,
                chart_source: source,
                chart_metric: metric,
                points,
                window_secs: DASHBOARD_WINDOW_SECS,
                now_ms,
            })
        }
        .await,
    )
}

/// The series the dashboard charts when the URL names none.
pub const DEFAULT_CHART: (&str, &str) = ("self", "requests_total");

/// Splits `source/metric` (empty: [`DEFAULT_CHART`]).
pub fn parse_chart(chart: &str) -> Result<(String, String), AppError> {
    let chart = chart.trim();
    if chart.is_empty() {
        return Ok((DEFAULT_CHART.0.into(), DEFAULT_CHART.1.into()));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    match chart.split_once('/') {
        Some((source, metric))
            if !source.is_empty()
                && !metric.is_empty()
                && source.chars().all(valid)
                && metric.chars().all(valid) =>
        {
            Ok((source.to_string(), metric.to_string()))
        }
        _ => Err(AppError::invalid(
            "chart",
            format!("`{chart}` is not source/metric"),
        )),
    }
}

/// The dashboard chart's query: the last 15 minutes of one metric of one source, averaged over its label sets (a
/// counter: its rate, summed over them).
pub fn chart_query(source: &str, metric: &str) -> QueryRequest {
    QueryRequest {
        metric: metric.to_string(),
        sources: vec![source.to_string()],
        start: Some(format!("-{DASHBOARD_WINDOW_SECS}s")),
        aggregation: Some(crate::types::default_aggregation(metric).into()),
        max_points: Some(450),
        ..Default::default()
    }
}

/// Admin: every user account.
#[server(prefix = "/api/fn", endpoint = "users", output = crate::codec::Answer)]
pub async fn list_users() -> Result<Vec<UserInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.list_users().await
        }
        .await,
    )
}

/// Admin: creates an account with a role; a bad username or password is named.
#[server(prefix = "/api/fn", endpoint = "user_create", output = crate::codec::Answer)]
pub async fn create_user(
    username: String,
    password: String,
    role: crate::types::Role,
) -> Result<UserInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?
                .create_user(&username, &password, role, &admin.username)
                .await
        }
        .await,
    )
}

/// Admin: changes user `id`'s role (the last admin stays admin).
#[server(prefix = "/api/fn", endpoint = "user_role", output = crate::codec::Answer)]
pub async fn set_user_role(id: i64, role: crate::types::Role) -> Result<UserInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?.set_user_role(id, role, &admin.username).await
        }
        .await,
    )
}

/// Admin: sets user `id`'s password and signs them out everywhere.
#[server(prefix = "/api/fn", endpoint = "user_password", output = crate::codec::Answer)]
pub async fn reset_password(id: i64, password: String) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?
                .reset_password(id, &password, &admin.username)
                .await
        }
        .await,
    )
}

/// Admin: deletes user `id` (never the last admin, never oneself); their sessions end at once.
#[server(prefix = "/api/fn", endpoint = "user_delete", output = crate::codec::Answer)]
pub async fn delete_user(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?.delete_user(id, &admin.username).await
        }
        .await,
    )
}

/// Admin: signs user `id` out of every session.
#[server(prefix = "/api/fn", endpoint = "user_revoke_sessions", output = crate::codec::Answer)]
pub async fn revoke_sessions(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?.revoke_sessions(id, &admin.username).await
        }
        .await,
    )
}

/// Every source with its health.
#[server(prefix = "/api/fn", endpoint = "sources", output = crate::codec::Answer)]
pub async fn sources() -> Result<Vec<SourceStatus>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.sources().await
        }
        .await,
    )
}

/// Admin: adds a runtime source, or changes runtime source `form.editing`, from the sources form's fields (posted by
/// the browser itself before the page is interactive); shape and value problems are named together.
#[server(prefix = "/api/fn", endpoint = "source_save", output = crate::codec::Answer)]
pub async fn save_source(form: crate::forms::SourceFields) -> Result<SourceStatus, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            let (editing, definition) = form.definition()?;
            match editing {
                Some(id) => {
                    engine()?
                        .update_source(&id, &definition, &admin.username)
                        .await
                }
                None => engine()?.create_source(&definition, &admin.username).await,
            }
        }
        .await,
    )
}

/// Admin: replaces the definition of runtime source `id` (enable/disable included).
#[server(prefix = "/api/fn", endpoint = "source_update", output = crate::codec::Answer)]
pub async fn update_source(
    id: String,
    definition: SourceDefinition,
) -> Result<SourceStatus, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?
                .update_source(&id, &definition, &admin.username)
                .await
        }
        .await,
    )
}

/// Admin: stops and deletes runtime source `id`.
#[server(prefix = "/api/fn", endpoint = "source_delete", output = crate::codec::Answer)]
pub async fn delete_source(id: String) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            engine()?.delete_source(&id, &admin.username).await
        }
        .await,
    )
}

/// Admin: one collection round of a definition, stored nowhere (the sources page's "Test").
#[server(prefix = "/api/fn", endpoint = "source_test", output = crate::codec::Answer)]
pub async fn test_source(definition: SourceDefinition) -> Result<SourceTestResult, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.test_source(&definition).await
        }
        .await,
    )
}

/// A time-series query (see [`QueryRequest`]).
#[server(prefix = "/api/fn", endpoint = "query", output = crate::codec::Answer)]
pub async fn query_series(request: QueryRequest) -> Result<QueryResult, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.query(request).await
        }
        .await,
    )
}

/// Admin: creates an API token from the token form's fields; the secret is in the answer and nowhere else.
#[server(prefix = "/api/fn", endpoint = "token_create", output = crate::codec::Answer)]
pub async fn create_token(form: crate::forms::TokenFields) -> Result<CreatedToken, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            let created = engine()?
                .create_token(
                    form.name.trim(),
                    &form.scopes(),
                    form.expires_in.trim(),
                    &form.role,
                    &admin.username,
                )
                .await?;
            // Posted by the browser itself, the answer is a redirect: the page it leads to shows the secret.
            if crate::engine::posted_by_browser() {
                crate::engine::keep_new_token(&created).await?;
            }
            Ok(created)
        }
        .await,
    )
}

/// Admin: the token just created by a form the browser posted itself, once (its secret is shown on the page the
/// browser was sent back to, and then forgotten).
#[server(prefix = "/api/fn", endpoint = "token_new", output = crate::codec::Answer)]
pub async fn new_token() -> Result<Option<CreatedToken>, AppError> {
    use crate::engine::{require_role, respond, take_new_token};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            take_new_token().await
        }
        .await,
    )
}

/// Admin: every API token (without secrets).
#[server(prefix = "/api/fn", endpoint = "tokens", output = crate::codec::Answer)]
pub async fn list_tokens() -> Result<Vec<TokenInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.list_tokens().await
        }
        .await,
    )
}

/// Admin: revokes an API token for good.
#[server(prefix = "/api/fn", endpoint = "token_revoke", output = crate::codec::Answer)]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.revoke_token(id).await
        }
        .await,
    )
}

/// Every alert rule.
#[server(prefix = "/api/fn", endpoint = "rules", output = crate::codec::Answer)]
pub async fn list_rules() -> Result<Vec<crate::types::RuleInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.rules().await
        }
        .await,
    )
}

/// Editor: checks and stores a new alert rule, or replaces rule `form.editing` (its alerts keep their state, and
/// annotations the form has no field for stay), from the rule form's fields; a bad field answers 422 naming it.
#[server(prefix = "/api/fn", endpoint = "rule_save", output = crate::codec::Answer)]
pub async fn save_rule(form: crate::forms::RuleFields) -> Result<crate::types::RuleInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let editor = require_role(Role::Editor).await?;
            let engine = engine()?;
            let kept = match form.editing.trim().parse::<i64>() {
                Ok(id) => engine
                    .rules()
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                    .map(|r| r.rule.annotations)
                    .unwrap_or_default(),
                Err(_) => Default::default(),
            };
            let (editing, rule) = form.draft(kept)?;
            match editing {
                Some(id) => engine.update_rule(id, &rule).await,
                None => engine.create_rule(&rule, &editor.username).await,
            }
        }
        .await,
    )
}

/// Editor: replaces rule `id` (enable/disable included); its alerts keep their state.
#[server(prefix = "/api/fn", endpoint = "rule_update", output = crate::codec::Answer)]
pub async fn update_rule(
    id: i64,
    rule: crate::types::RuleDraft,
) -> Result<crate::types::RuleInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Editor).await?;
            engine()?.update_rule(id, &rule).await
        }
        .await,
    )
}

/// Editor: deletes rule `id` with its alerts and their history.
#[server(prefix = "/api/fn", endpoint = "rule_delete", output = crate::codec::Answer)]
pub async fn delete_rule(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Editor).await?;
            engine()?.delete_rule(id).await
        }
        .await,
    )
}

/// Alerts that are pending, firing or resolved, firing first.
#[server(prefix = "/api/fn", endpoint = "alerts", output = crate::codec::Answer)]
pub async fn list_alerts() -> Result<Vec<crate::types::AlertInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.alerts().await
        }
        .await,
    )
}

/// The latest `limit` (at most 1000) alert history entries, newest first; of one rule if `rule_id` is set.
#[server(prefix = "/api/fn", endpoint = "alert_history", output = crate::codec::Answer)]
pub async fn alert_history(
    rule_id: Option<i64>,
    limit: i64,
) -> Result<Vec<crate::types::AlertEvent>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.alert_history(rule_id, limit).await
        }
        .await,
    )
}

/// Every metric with the sources reporting it and its label names (the explorer's picker).
#[server(prefix = "/api/fn", endpoint = "metric_catalog", output = crate::codec::Answer)]
pub async fn metric_catalog() -> Result<Vec<crate::types::MetricCatalog>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.catalog().await
        }
        .await,
    )
}

/// Admin: every contact point (URLs redacted) with its queue.
#[server(prefix = "/api/fn", endpoint = "contact_points", output = crate::codec::Answer)]
pub async fn list_contact_points() -> Result<Vec<crate::types::ContactPointInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.contact_points().await
        }
        .await,
    )
}

/// Admin: checks and stores a contact point, or changes contact point `form.editing` (an empty URL keeps the stored
/// one), from the contact point form's fields; an internal URL is refused unless allow-listed.
#[server(prefix = "/api/fn", endpoint = "contact_point_save", output = crate::codec::Answer)]
pub async fn save_contact_point(
    form: crate::forms::ContactFields,
) -> Result<crate::types::ContactPointInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let admin = require_role(Role::Admin).await?;
            let (editing, contact_point) = form.draft()?;
            match editing {
                Some(id) => engine()?.update_contact_point(id, &contact_point).await,
                None => {
                    engine()?
                        .create_contact_point(&contact_point, &admin.username)
                        .await
                }
            }
        }
        .await,
    )
}

/// Viewer: the pending and firing alerts a silence of `matchers` would mute now (the silence form's preview).
#[server(prefix = "/api/fn", endpoint = "silence_preview", output = crate::codec::Answer)]
pub async fn preview_silence(
    matchers: Vec<String>,
) -> Result<Vec<crate::types::AlertInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.preview_silence(&matchers).await
        }
        .await,
    )
}

/// Viewer: the rule as drafted (not saved), replayed by the alert engine over the last hours: the value it saw at
/// each evaluation and when it would have fired (the rule form's backtest).
#[server(prefix = "/api/fn", endpoint = "rule_backtest", output = crate::codec::Answer)]
pub async fn backtest_rule(
    draft: crate::types::RuleDraft,
) -> Result<crate::types::RuleBacktest, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.backtest_rule(&draft).await
        }
        .await,
    )
}

/// Admin: deletes a contact point and its queue.
#[server(prefix = "/api/fn", endpoint = "contact_point_delete", output = crate::codec::Answer)]
pub async fn delete_contact_point(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.delete_contact_point(id).await
        }
        .await,
    )
}

/// Admin: sends a test notification to a contact point now, outside its queue.
#[server(prefix = "/api/fn", endpoint = "contact_point_test", output = crate::codec::Answer)]
pub async fn test_contact_point(id: i64) -> Result<crate::types::ContactPointTest, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Admin).await?;
            engine()?.test_contact_point(id).await
        }
        .await,
    )
}

/// Editor: acknowledges alert (`rule_id`, `series_id`): its repeats stop until it resolves.
#[server(prefix = "/api/fn", endpoint = "alert_ack", output = crate::codec::Answer)]
pub async fn acknowledge_alert(rule_id: i64, series_id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let editor = require_role(Role::Editor).await?;
            engine()?
                .acknowledge_alert(rule_id, series_id, &editor.username)
                .await
        }
        .await,
    )
}

/// Every silence, newest first.
#[server(prefix = "/api/fn", endpoint = "silences", output = crate::codec::Answer)]
pub async fn list_silences() -> Result<Vec<crate::types::SilenceInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.silences().await
        }
        .await,
    )
}

/// Editor: creates a silence, or changes silence `form.editing` in place (matchers, length, comment; it keeps its
/// start), from the silence form's fields; bad fields answer 422 naming each.
#[server(prefix = "/api/fn", endpoint = "silence_save", output = crate::codec::Answer)]
pub async fn save_silence(
    form: crate::forms::SilenceFields,
) -> Result<crate::types::SilenceInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let editor = require_role(Role::Editor).await?;
            let (editing, silence) = form.draft()?;
            match editing {
                Some(id) => engine()?.update_silence(id, &silence).await,
                None => engine()?.create_silence(&silence, &editor.username).await,
            }
        }
        .await,
    )
}

/// Editor: deletes a silence (notices flow again at once).
#[server(prefix = "/api/fn", endpoint = "silence_delete", output = crate::codec::Answer)]
pub async fn delete_silence(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Editor).await?;
            engine()?.delete_silence(id).await
        }
        .await,
    )
}

/// Every report template with its next due time.
#[server(prefix = "/api/fn", endpoint = "report_templates", output = crate::codec::Answer)]
pub async fn report_templates() -> Result<Vec<crate::types::ReportTemplateInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.report_templates().await
        }
        .await,
    )
}

/// Editor: checks and stores a new report template, or replaces template `form.editing`, from the template form's
/// fields (sections in order); a bad field answers 422 naming it.
#[server(prefix = "/api/fn", endpoint = "report_template_save", output = crate::codec::Answer)]
pub async fn save_report_template(
    form: crate::forms::TemplateFields,
) -> Result<crate::types::ReportTemplateInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let editor = require_role(Role::Editor).await?;
            let (editing, template) = form.draft()?;
            match editing {
                Some(id) => {
                    engine()?
                        .update_report_template(id, &template, &editor.username)
                        .await
                }
                None => {
                    engine()?
                        .create_report_template(&template, &editor.username)
                        .await
                }
            }
        }
        .await,
    )
}

/// Editor: deletes a report template (its generated reports stay until retention removes them).
#[server(prefix = "/api/fn", endpoint = "report_template_delete", output = crate::codec::Answer)]
pub async fn delete_report_template(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let editor = require_role(Role::Editor).await?;
            engine()?.delete_report_template(id, &editor.username).await
        }
        .await,
    )
}

/// Editor: generates a report of the template now (in the background); returns it as running.
#[server(prefix = "/api/fn", endpoint = "report_generate", output = crate::codec::Answer)]
pub async fn generate_report(id: i64) -> Result<crate::types::ReportInfo, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            let editor = require_role(Role::Editor).await?;
            engine()?.generate_report(id, &editor.username).await
        }
        .await,
    )
}

/// Generated reports, newest first, optionally of one template and within dates.
#[server(prefix = "/api/fn", endpoint = "reports", input = leptos::server_fn::codec::Json, output = crate::codec::Answer)]
pub async fn list_reports(
    filter: crate::types::ReportFilter,
) -> Result<Vec<crate::types::ReportInfo>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            engine()?.reports(&filter).await
        }
        .await,
    )
}

/// Editor: deletes a generated report and its files.
#[server(prefix = "/api/fn", endpoint = "report_delete", output = crate::codec::Answer)]
pub async fn delete_report(id: i64) -> Result<(), AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Editor).await?;
            engine()?.delete_report(id).await
        }
        .await,
    )
}

/// Probed MCP servers: tools, per-tool latency percentiles and error rates over the last `window` (`1h`, `24h`,
/// `7d`; default 1h), and tool-schema history.
#[server(prefix = "/api/fn", endpoint = "mcp_servers", output = crate::codec::Answer)]
pub async fn mcp_servers(window: String) -> Result<Vec<crate::types::McpServerView>, AppError> {
    use crate::engine::{engine, require_role, respond};
    use crate::types::Role;
    respond(
        async {
            require_role(Role::Viewer).await?;
            let window = match window.trim() {
                "" | "1h" => std::time::Duration::from_secs(3600),
                "24h" => std::time::Duration::from_secs(86400),
                "7d" => std::time::Duration::from_secs(7 * 86400),
                other => {
                    return Err(AppError::invalid(
                        "window",
                        format!("{other:?}: expected 1h, 24h or 7d"),
                    ))
                }
            };
            engine()?.mcp_servers(window).await
        }
        .await,
    )
}
