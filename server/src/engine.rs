//! The engine as the UI sees it: `server`'s implementation of [`app::engine::Engine`], a facade over users and
//! storage that server functions reach through Leptos context.

use crate::auth::tokens::Tokens;
use crate::auth::{NewPassword, Username, Users};
use crate::collect::manage::SourceRegistry;
use crate::collect::Collector;
use crate::names::SourceId;
use crate::store::Store;
use app::engine::Engine;
use app::error::AppError;
use app::types::{
    AlertEvent, AlertInfo, ContactPointDraft, ContactPointInfo, ContactPointTest, CreatedToken,
    CurrentValue, MetricCatalog, QueryRequest, QueryResult, ReportFilter, ReportInfo,
    ReportTemplateDraft, ReportTemplateInfo, Role, RuleDraft, RuleInfo, SilenceDraft, SilenceInfo,
    SourceDefinition, SourceStatus, SourceTestResult, TokenInfo, TokenRequest, UserInfo,
};
use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::Arc;

pub struct EngineImpl {
    pub users: Users,
    pub store: Arc<Store>,
    pub collector: Arc<Collector>,
    /// Which sources are declared where; changes them at runtime.
    pub sources: Arc<SourceRegistry>,
    pub tokens: Arc<Tokens>,
    pub alerting: Arc<crate::alert::Alerting>,
    /// Where alert changes made through the UI or API are announced to live clients.
    pub hub: Arc<crate::live::Hub>,
    pub reports: Arc<crate::report::Reports>,
    /// "Now" for queries, token expiry and backtests.
    pub clock: crate::clock::Clock,
}

impl EngineImpl {
    /// Tells live clients the current pending and firing alerts.
    async fn announce_alerts(&self) {
        self.alerting.publish(&self.hub).await;
    }
}

#[async_trait]
impl Engine for EngineImpl {
    async fn user_count(&self) -> Result<i64, AppError> {
        self.users.count().await.map_err(AppError::internal)
    }

    async fn session_user(&self, user_id: i64, epoch: i64) -> Result<Option<UserInfo>, AppError> {
        self.users
            .session_user(user_id, epoch)
            .await
            .map_err(AppError::internal)
    }

    async fn end_session(&self, id: &str) -> Result<(), AppError> {
        crate::auth::sessions::end(self.store.pool(), id)
            .await
            .map_err(AppError::internal)
    }

    async fn verify_login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(UserInfo, i64), AppError> {
        if username.is_empty() || password.is_empty() {
            return Err(AppError::InvalidCredentials);
        }
        self.users.verify_login(username, password, client).await
    }

    async fn create_first_admin(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(UserInfo, i64), AppError> {
        let (username, password) = new_account(username, password)?;
        let created = self.users.create_first_admin(&username, password).await?;
        tracing::info!(user = %username.as_str(), "first admin created through the setup page");
        Ok(created)
    }

    async fn list_users(&self) -> Result<Vec<UserInfo>, AppError> {
        Ok(self
            .users
            .list()
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|(u, _)| u)
            .collect())
    }

    async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
        by: &str,
    ) -> Result<UserInfo, AppError> {
        let (username, password) = new_account(username, password)?;
        let (user, _) = self.users.create(&username, password, role).await?;
        tracing::info!(user = %user.username, role = %role, by, "user created");
        Ok(user)
    }

    async fn set_user_role(&self, id: i64, role: Role, by: &str) -> Result<UserInfo, AppError> {
        let user = self.users.set_role(id, role).await?;
        tracing::info!(user = %user.username, role = %role, by, "role changed");
        Ok(user)
    }

    async fn reset_password(&self, id: i64, password: &str, by: &str) -> Result<(), AppError> {
        let password = NewPassword::parse(password)?;
        let username = self.users.username(id).await?;
        if !self
            .users
            .set_password(&username, password)
            .await
            .map_err(AppError::internal)?
        {
            return Err(AppError::NotFound);
        }
        self.hub.sessions_revoked(id);
        tracing::info!(user = %username, by, "password reset; sessions revoked");
        Ok(())
    }

    async fn delete_user(&self, id: i64, by: &str) -> Result<(), AppError> {
        if self.users.username(id).await? == by {
            return Err(AppError::Conflict(
                "you cannot delete your own account; another admin can".into(),
            ));
        }
        let user = self.users.delete(id).await?;
        self.hub.sessions_revoked(id);
        tracing::info!(user = %user.username, by, "user deleted");
        Ok(())
    }

    async fn revoke_sessions(&self, id: i64, by: &str) -> Result<(), AppError> {
        self.users.revoke_sessions(id).await?;
        self.hub.sessions_revoked(id);
        tracing::info!(user = id, by, "sessions revoked");
        Ok(())
    }

    async fn create_token(
        &self,
        request: &TokenRequest,
        created_by: &str,
    ) -> Result<CreatedToken, AppError> {
        let expires_at = match request.expires_in {
            None => None,
            Some(d) => Some(
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| self.clock.now().checked_add_signed(d))
                    .ok_or_else(|| AppError::invalid("expires_in", "too far in the future"))?,
            ),
        };
        let (info, token) = self
            .tokens
            .create_with_role(
                &request.name,
                &request.scopes,
                expires_at,
                created_by,
                request.role,
            )
            .await?;
        tracing::info!(token = %info.name, by = created_by, "API token created");
        Ok(CreatedToken { info, token })
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, AppError> {
        self.tokens.list().await
    }

    async fn revoke_token(&self, id: i64) -> Result<(), AppError> {
        self.tokens.revoke(id).await
    }

    async fn sources(&self) -> Result<Vec<SourceStatus>, AppError> {
        Ok(self.sources.statuses())
    }

    async fn create_source(
        &self,
        definition: &SourceDefinition,
        by: &str,
    ) -> Result<SourceStatus, AppError> {
        self.sources.create(definition, by).await
    }

    async fn update_source(
        &self,
        id: &SourceId,
        definition: &SourceDefinition,
        by: &str,
    ) -> Result<SourceStatus, AppError> {
        self.sources.update(id, definition, by).await
    }

    async fn delete_source(&self, id: &SourceId, by: &str) -> Result<(), AppError> {
        self.sources.delete(id, by).await
    }

    async fn test_source(
        &self,
        definition: &SourceDefinition,
    ) -> Result<SourceTestResult, AppError> {
        self.sources.test(definition).await
    }

    async fn current_values(&self) -> Result<Vec<CurrentValue>, AppError> {
        self.store
            .current_values()
            .await
            .map_err(AppError::internal)
    }

    async fn catalog(&self) -> Result<Vec<MetricCatalog>, AppError> {
        self.store.catalog().await.map_err(AppError::internal)
    }

    async fn query(&self, request: QueryRequest) -> Result<QueryResult, AppError> {
        let query = crate::store::query::Query::parse(&request, self.clock.now())?;
        crate::store::query::run(&self.store, &query)
            .await
            .map_err(crate::store::chunk::read_error)
    }

    async fn rules(&self) -> Result<Vec<RuleInfo>, AppError> {
        self.alerting.rules().await
    }

    async fn create_rule(&self, draft: &RuleDraft, by: &str) -> Result<RuleInfo, AppError> {
        self.alerting.create_rule(draft, by).await
    }

    async fn update_rule(&self, id: i64, draft: &RuleDraft) -> Result<RuleInfo, AppError> {
        let rule = self.alerting.update_rule(id, draft).await?;
        self.announce_alerts().await;
        Ok(rule)
    }

    async fn delete_rule(&self, id: i64) -> Result<(), AppError> {
        self.alerting.delete_rule(id).await?;
        self.announce_alerts().await;
        Ok(())
    }

    async fn alerts(&self) -> Result<Vec<AlertInfo>, AppError> {
        self.alerting.alerts().await
    }

    async fn alert_history(
        &self,
        rule_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AlertEvent>, AppError> {
        self.alerting.history(rule_id, limit).await
    }

    async fn contact_points(&self) -> Result<Vec<ContactPointInfo>, AppError> {
        self.alerting.contact_points.list().await
    }

    async fn create_contact_point(
        &self,
        draft: &ContactPointDraft,
        by: &str,
    ) -> Result<ContactPointInfo, AppError> {
        self.alerting.contact_points.create(draft, by).await
    }

    async fn update_contact_point(
        &self,
        id: i64,
        draft: &ContactPointDraft,
    ) -> Result<ContactPointInfo, AppError> {
        self.alerting.contact_points.update(id, draft).await
    }

    async fn backtest_rule(
        &self,
        draft: &app::types::RuleDraft,
    ) -> Result<app::types::RuleBacktest, AppError> {
        let range = std::time::Duration::from_secs(app::types::BACKTEST_HOURS as u64 * 3600);
        // About 720 evaluations over the range, never closer together than the evaluator's own.
        self.alerting
            .backtest(draft, self.clock.now(), range, range / 720)
            .await
    }

    async fn preview_silence(&self, matchers: &[String]) -> Result<Vec<AlertInfo>, AppError> {
        crate::alert::silence::preview(matchers, self.alerting.alerts().await?)
    }

    async fn delete_contact_point(&self, id: i64) -> Result<(), AppError> {
        self.alerting.contact_points.delete(id).await
    }

    async fn test_contact_point(&self, id: i64) -> Result<ContactPointTest, AppError> {
        let (delivered, message) = self.alerting.dispatcher.test(id).await?;
        Ok(ContactPointTest { delivered, message })
    }

    async fn acknowledge_alert(
        &self,
        rule_id: i64,
        series_id: i64,
        by: &str,
    ) -> Result<(), AppError> {
        self.alerting.acknowledge(rule_id, series_id, by).await?;
        self.announce_alerts().await;
        Ok(())
    }

    async fn silences(&self) -> Result<Vec<SilenceInfo>, AppError> {
        self.alerting.silences.list().await
    }

    async fn create_silence(
        &self,
        draft: &SilenceDraft,
        by: &str,
    ) -> Result<SilenceInfo, AppError> {
        let created = self.alerting.silences.create(draft, by).await?;
        // Live lists show which alerts it mutes at once.
        self.announce_alerts().await;
        Ok(created)
    }

    async fn update_silence(&self, id: i64, draft: &SilenceDraft) -> Result<SilenceInfo, AppError> {
        let changed = self.alerting.silences.update(id, draft).await?;
        self.announce_alerts().await;
        Ok(changed)
    }

    async fn delete_silence(&self, id: i64) -> Result<(), AppError> {
        self.alerting.silences.delete(id).await?;
        self.announce_alerts().await;
        Ok(())
    }

    async fn report_templates(&self) -> Result<Vec<ReportTemplateInfo>, AppError> {
        self.reports.templates().await
    }

    async fn create_report_template(
        &self,
        draft: &ReportTemplateDraft,
        by: &str,
    ) -> Result<ReportTemplateInfo, AppError> {
        self.reports.create_template(draft, by).await
    }

    async fn update_report_template(
        &self,
        id: i64,
        draft: &ReportTemplateDraft,
        by: &str,
    ) -> Result<ReportTemplateInfo, AppError> {
        self.reports.update_template(id, draft, by).await
    }

    async fn delete_report_template(&self, id: i64, by: &str) -> Result<(), AppError> {
        self.reports.delete_template(id, by).await
    }

    async fn generate_report(&self, id: i64, by: &str) -> Result<ReportInfo, AppError> {
        self.reports.start(id, by).await
    }

    async fn reports(&self, filter: &ReportFilter) -> Result<Vec<ReportInfo>, AppError> {
        self.reports.reports(filter).await
    }

    async fn delete_report(&self, id: i64) -> Result<(), AppError> {
        self.reports.delete_report(id).await
    }

    async fn mcp_servers(
        &self,
        window: std::time::Duration,
    ) -> Result<Vec<app::types::McpServerView>, AppError> {
        crate::store::mcp::overview(
            self.store.pool(),
            self.sources.statuses(),
            window,
            self.clock.now(),
        )
        .await
        .map_err(AppError::internal)
    }
}

/// A new account's username and password, both checked, every problem named at once.
fn new_account(username: &str, password: &str) -> Result<(Username, NewPassword), AppError> {
    let mut problems = app::error::Problems::new();
    let username = problems.take(Username::parse(username));
    let password = problems.take(NewPassword::parse(password));
    problems.finish()?;
    match (username, password) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => unreachable!("every missing value was recorded as a problem"),
    }
}
