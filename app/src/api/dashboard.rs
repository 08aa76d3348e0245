//! The dashboard's first render and the series it charts.

use crate::error::AppError;
use crate::types::*;
use leptos::prelude::*;

/// How much history the dashboard chart shows.
pub const DASHBOARD_WINDOW_SECS: i64 = 15 * 60;

/// The dashboard's first render: current values, sources, and the last 15 minutes of the charted series, named
/// `source/metric` (default `self/requests_total`).
#[server(prefix = "/api/fn", endpoint = "dashboard", output = crate::codec::Answer)]
pub async fn dashboard(chart: String) -> Result<DashboardData, AppError> {
    crate::engine::serve_as(Role::Viewer, |engine, user| async move {
        let (source, metric) = parse_chart(&chart)?;
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
    })
    .await
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
