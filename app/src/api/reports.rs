//! The Reports page: templates, runs and their files.

use crate::error::AppError;
use leptos::prelude::*;

/// Every report template with its next due time.
#[server(prefix = "/api/fn", endpoint = "report_templates", output = crate::codec::Answer)]
pub async fn report_templates() -> Result<Vec<crate::types::ReportTemplateInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.report_templates().await
    })
    .await
}

/// Editor: checks and stores a new report template, or replaces template `form.editing`, from the template form's
/// fields (sections in order); a bad field answers 422 naming it.
#[server(prefix = "/api/fn", endpoint = "report_template_save", output = crate::codec::Answer)]
pub async fn save_report_template(
    form: crate::forms::TemplateFields,
) -> Result<crate::types::ReportTemplateInfo, AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, editor| async move {
        let (editing, template) = form.draft()?;
        match editing {
            Some(id) => {
                engine
                    .update_report_template(id, &template, &editor.username)
                    .await
            }
            None => {
                engine
                    .create_report_template(&template, &editor.username)
                    .await
            }
        }
    })
    .await
}

/// Editor: deletes a report template (its generated reports stay until retention removes them).
#[server(prefix = "/api/fn", endpoint = "report_template_delete", output = crate::codec::Answer)]
pub async fn delete_report_template(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, editor| async move {
        engine.delete_report_template(id, &editor.username).await
    })
    .await
}

/// Editor: generates a report of the template now (in the background); returns it as running.
#[server(prefix = "/api/fn", endpoint = "report_generate", output = crate::codec::Answer)]
pub async fn generate_report(id: i64) -> Result<crate::types::ReportInfo, AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, editor| async move {
        engine.generate_report(id, &editor.username).await
    })
    .await
}

/// Generated reports, newest first, optionally of one template and within dates.
#[server(prefix = "/api/fn", endpoint = "reports", input = leptos::server_fn::codec::Json, output = crate::codec::Answer)]
pub async fn list_reports(
    filter: crate::types::ReportFilter,
) -> Result<Vec<crate::types::ReportInfo>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        engine.reports(&filter).await
    })
    .await
}

/// Editor: deletes a generated report and its files.
#[server(prefix = "/api/fn", endpoint = "report_delete", output = crate::codec::Answer)]
pub async fn delete_report(id: i64) -> Result<(), AppError> {
    crate::engine::serve_as(crate::types::Role::Editor, |engine, _| async move {
        engine.delete_report(id).await
    })
    .await
}
