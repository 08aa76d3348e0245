//! Explore and the pickers: series queries and the metric catalog.

use crate::error::AppError;
use crate::types::*;
use leptos::prelude::*;

/// A time-series query (see [`QueryRequest`]).
#[server(prefix = "/api/fn", endpoint = "query", output = crate::codec::Answer)]
pub async fn query_series(request: QueryRequest) -> Result<QueryResult, AppError> {
    crate::engine::serve_as(Role::Viewer, |engine, _| async move {
        engine.query(request).await
    })
    .await
}

/// Every metric with the sources reporting it and its label names (the explorer's picker).
#[server(prefix = "/api/fn", endpoint = "metric_catalog", output = crate::codec::Answer)]
pub async fn metric_catalog() -> Result<Vec<crate::types::MetricCatalog>, AppError> {
    crate::engine::serve_as(
        Role::Viewer,
        |engine, _| async move { engine.catalog().await },
    )
    .await
}
