//! The Alerts page: rules and their backtest, current alerts and history, acknowledgement, silences and contact points.

use crate::error::AppError;
use leptos::prelude::*;

/// Every alert rule.
#[server(prefix = "/api/fn", endpoint = "rules", output = crate::codec::Answer)]
pub async fn list_rules() -> Result<Vec<crate::types::RuleInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.rules().await
    })
    .await
}

/// Editor: checks and stores a new alert rule, or replaces rule `form.editing` (its alerts keep their state, and
/// annotations the form has no field for stay), from the rule form's fields; a bad field answers 422 naming it.
#[server(prefix = "/api/fn", endpoint = "rule_save", output = crate::codec::Answer)]
pub async fn save_rule(form: crate::forms::RuleFields) -> Result<crate::types::RuleInfo, AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, editor| async move {
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
    })
    .await
}

/// Editor: replaces rule `id` (enable/disable included); its alerts keep their state.
#[server(prefix = "/api/fn", endpoint = "rule_update", output = crate::codec::Answer)]
pub async fn update_rule(
    id: i64,
    rule: crate::types::RuleDraft,
) -> Result<crate::types::RuleInfo, AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, _| async move {
        engine.update_rule(id, &rule).await
    })
    .await
}

/// Editor: deletes rule `id` with its alerts and their history.
#[server(prefix = "/api/fn", endpoint = "rule_delete", output = crate::codec::Answer)]
pub async fn delete_rule(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, _| async move {
        engine.delete_rule(id).await
    })
    .await
}

/// Alerts that are pending, firing or resolved, firing first.
#[server(prefix = "/api/fn", endpoint = "alerts", output = crate::codec::Answer)]
pub async fn list_alerts() -> Result<Vec<crate::types::AlertInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.alerts().await
    })
    .await
}

/// The latest `limit` (at most 1000) alert history entries, newest first; of one rule if `rule_id` is set.
#[server(prefix = "/api/fn", endpoint = "alert_history", output = crate::codec::Answer)]
pub async fn alert_history(
    rule_id: Option<i64>,
    limit: i64,
) -> Result<Vec<crate::types::AlertEvent>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.alert_history(rule_id, limit).await
    })
    .await
}

/// Admin: every contact point (URLs redacted) with its queue.
#[server(prefix = "/api/fn", endpoint = "contact_points", output = crate::codec::Answer)]
pub async fn list_contact_points() -> Result<Vec<crate::types::ContactPointInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Admin, |engine, _| async move {
        engine.contact_points().await
    })
    .await
}

/// Admin: checks and stores a contact point, or changes contact point `form.editing` (an empty URL keeps the stored
/// one), from the contact point form's fields; an internal URL is refused unless allow-listed.
#[server(prefix = "/api/fn", endpoint = "contact_point_save", output = crate::codec::Answer)]
pub async fn save_contact_point(
    form: crate::forms::ContactFields,
) -> Result<crate::types::ContactPointInfo, AppError> {
    crate::engine::serve_as(crate::types::Role::Admin, |engine, admin| async move {
        let (editing, contact_point) = form.draft()?;
        match editing {
            Some(id) => engine.update_contact_point(id, &contact_point).await,
            None => {
                engine
                    .create_contact_point(&contact_point, &admin.username)
                    .await
            }
        }
    })
    .await
}

/// Viewer: the pending and firing alerts a silence of `matchers` would mute now (the silence form's preview).
#[server(prefix = "/api/fn", endpoint = "silence_preview", output = crate::codec::Answer)]
pub async fn preview_silence(
    matchers: Vec<String>,
) -> Result<Vec<crate::types::AlertInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.preview_silence(&matchers).await
    })
    .await
}

/// Viewer: the rule as drafted (not saved), replayed by the alert engine over the last hours: the value it saw at
/// each evaluation and when it would have fired (the rule form's backtest).
#[server(prefix = "/api/fn", endpoint = "rule_backtest", output = crate::codec::Answer)]
pub async fn backtest_rule(
    draft: crate::types::RuleDraft,
) -> Result<crate::types::RuleBacktest, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.backtest_rule(&draft).await
    })
    .await
}

/// Admin: deletes a contact point and its queue.
#[server(prefix = "/api/fn", endpoint = "contact_point_delete", output = crate::codec::Answer)]
pub async fn delete_contact_point(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(crate::types::Role::Admin, |engine, _| async move {
        engine.delete_contact_point(id).await
    })
    .await
}

/// Admin: sends a test notification to a contact point now, outside its queue.
#[server(prefix = "/api/fn", endpoint = "contact_point_test", output = crate::codec::Answer)]
pub async fn test_contact_point(id: i64) -> Result<crate::types::ContactPointTest, AppError> {
    crate::engine::serve_as(crate::types::Role::Admin, |engine, _| async move {
        engine.test_contact_point(id).await
    })
    .await
}

/// Editor: acknowledges alert (`rule_id`, `series_id`): its repeats stop until it resolves.
#[server(prefix = "/api/fn", endpoint = "alert_ack", output = crate::codec::Answer)]
pub async fn acknowledge_alert(rule_id: i64, series_id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, editor| async move {
        engine
            .acknowledge_alert(rule_id, series_id, &editor.username)
            .await
    })
    .await
}

/// Every silence, newest first.
#[server(prefix = "/api/fn", endpoint = "silences", output = crate::codec::Answer)]
pub async fn list_silences() -> Result<Vec<crate::types::SilenceInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.silences().await
    })
    .await
}

/// Editor: creates a silence, or changes silence `form.editing` in place (matchers, length, comment; it keeps its
/// start), from the silence form's fields; bad fields answer 422 naming each.
#[server(prefix = "/api/fn", endpoint = "silence_save", output = crate::codec::Answer)]
pub async fn save_silence(
    form: crate::forms::SilenceFields,
) -> Result<crate::types::SilenceInfo, AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, editor| async move {
        let (editing, silence) = form.draft()?;
        match editing {
            Some(id) => engine.update_silence(id, &silence).await,
            None => engine.create_silence(&silence, &editor.username).await,
        }
    })
    .await
}

/// Editor: deletes a silence (notices flow again at once).
#[server(prefix = "/api/fn", endpoint = "silence_delete", output = crate::codec::Answer)]
pub async fn delete_silence(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, _| async move {
        engine.delete_silence(id).await
    })
    .await
}
