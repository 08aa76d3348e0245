//! The Sources page: list, create, change, delete and test sources.

use crate::error::AppError;
use crate::types::*;
use leptos::prelude::*;

/// The id a request names, parsed (a bad one is an error on field `id`).
#[cfg(feature = "ssr")]
fn source_id(id: &str) -> Result<crate::names::SourceId, AppError> {
    crate::names::SourceId::parse(id.trim()).map_err(|e| AppError::invalid("id", e.to_string()))
}

/// Every source with its health.
#[server(prefix = "/api/fn", endpoint = "sources", output = crate::codec::Answer)]
pub async fn sources() -> Result<Vec<SourceStatus>, AppError> {
    crate::engine::serve_as(
        Role::Viewer,
        |engine, _| async move { engine.sources().await },
    )
    .await
}

/// Admin: adds a runtime source, or changes runtime source `form.editing`, from the sources form's fields (posted by
/// the browser itself before the page is interactive); shape and value problems are named together.
#[server(prefix = "/api/fn", endpoint = "source_save", output = crate::codec::Answer)]
pub async fn save_source(form: crate::forms::SourceFields) -> Result<SourceStatus, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        let (editing, definition) = form.definition()?;
        match editing {
            Some(id) => {
                engine
                    .update_source(&source_id(&id)?, &definition, &admin.username)
                    .await
            }
            None => engine.create_source(&definition, &admin.username).await,
        }
    })
    .await
}

/// Admin: replaces the definition of runtime source `id` (enable/disable included).
#[server(prefix = "/api/fn", endpoint = "source_update", output = crate::codec::Answer)]
pub async fn update_source(
    id: String,
    definition: SourceDefinition,
) -> Result<SourceStatus, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine
            .update_source(&source_id(&id)?, &definition, &admin.username)
            .await
    })
    .await
}

/// Admin: stops and deletes runtime source `id`.
#[server(prefix = "/api/fn", endpoint = "source_delete", output = crate::codec::Answer)]
pub async fn delete_source(id: String) -> Result<(), AppError> {
    crate::engine::serve_as(Role::Admin, |engine, admin| async move {
        engine
            .delete_source(&source_id(&id)?, &admin.username)
            .await
    })
    .await
}

/// Admin: one collection round of a definition, stored nowhere (the sources page's "Test").
#[server(prefix = "/api/fn", endpoint = "source_test", output = crate::codec::Answer)]
pub async fn test_source(definition: SourceDefinition) -> Result<SourceTestResult, AppError> {
    crate::engine::serve_as(Role::Admin, |engine, _| async move {
        engine.test_source(&definition).await
    })
    .await
}
