//! The numbers of a report: [`collect`] reads PostgreSQL for each section of a checked template over a period and
//! returns [`ReportData`], which the renderers turn into HTML, JSON (this structure, serialised) and CSV.
//!
//! Metrics summaries are computed from raw samples in `[start, end)`, the same half-open range and the same
//! aggregate expressions as the query engine; charts come from the query engine itself (rollups where complete).

use super::template::{Section, Template};
pub use crate::store::health::SourceAvailability;
use crate::store::query::{push_series_filter, LabelMatcher};
use crate::store::{MetricName, SourceId, Store};
use app::types::{Point, QueryRequest};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use std::collections::BTreeMap;

/// Buckets per series in a report chart (the HTML chart is 900 pixels wide: about one per pixel).
const CHART_POINTS: usize = 900;

#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub template: String,
    pub description: String,
    pub generated_at: DateTime<Utc>,
    pub period: Span,
    /// The time zone the template's schedule is in (IANA name), in which the HTML report prints its times.
    pub timezone: String,
    pub sections: Vec<SectionData>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SectionData {
    MetricsSummary {
        title: String,
        metrics: Vec<MetricData>,
    },
    AlertsSummary {
        title: String,
        show_resolved: bool,
        /// Alerts per severity.
        by_severity: BTreeMap<String, usize>,
        alerts: Vec<AlertOccurrence>,
    },
    SourceHealth {
        title: String,
        /// Set when the period starts before the oldest kept raw sample: the figures cover from this time.
        covered_from: Option<DateTime<Utc>>,
        sources: Vec<SourceAvailability>,
    },
    McpTools {
        title: String,
        /// Set when the period starts before the oldest kept raw sample: the figures cover from this time.
        covered_from: Option<DateTime<Utc>>,
        /// Per probed server, method and tool (tool calls first).
        operations: Vec<McpToolStats>,
    },
}

/// Requests of one method (and tool) of one probed MCP server in the period.
#[derive(Debug, Clone, Serialize)]
pub struct McpToolStats {
    pub source: String,
    pub method: String,
    pub tool: Option<String>,
    pub calls: i64,
    pub errors: i64,
    pub error_rate_pct: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub top_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricData {
    pub metric: String,
    pub unit: String,
    /// Set when the period starts before the oldest kept raw sample (`storage.retention`): the statistics cover
    /// from this time (the chart, read from rollups, covers the whole period).
    pub covered_from: Option<DateTime<Utc>>,
    pub series: Vec<SeriesStats>,
    /// The chart's data (averages per bucket), if the section draws one.
    pub chart: Option<ChartData>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesStats {
    pub source: String,
    pub labels: BTreeMap<String, String>,
    pub samples: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub last: f64,
    pub p95: f64,
}

impl SeriesStats {
    /// `source {a="b", …}`: how the chart legend and the tables name a series.
    pub fn name(&self) -> String {
        series_name(&self.source, &self.labels)
    }
}

pub fn series_name(source: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        source.to_string()
    } else {
        let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{source} {{{}}}", pairs.join(", "))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChartData {
    pub step_ms: i64,
    pub series: Vec<ChartLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChartLine {
    pub name: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertOccurrence {
    pub rule: String,
    pub severity: String,
    pub source: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub fired_at: DateTime<Utc>,
    /// None: still firing at the end of the period.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Firing time within the period, in milliseconds.
    pub duration_ms: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The value that made it fire.
    pub value: Option<f64>,
}

/// Reads everything `template` reports over `[start, end)`; raw samples exist from `raw_from` on. `progress` is
/// told after each section.
pub async fn collect(
    store: &Store,
    template: &Template,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    raw_from: DateTime<Utc>,
    generated_at: DateTime<Utc>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> anyhow::Result<ReportData> {
    let pool = store.pool();
    let covered_from = (start < raw_from).then_some(raw_from.min(end));
    let mut sections = Vec::with_capacity(template.sections.len());
    for (i, section) in template.sections.iter().enumerate() {
        sections.push(match section {
            Section::Metrics {
                title,
                metrics,
                sources,
                matchers,
                labels,
                chart,
            } => {
                let mut out = Vec::with_capacity(metrics.len());
                for metric in metrics {
                    let series = stats(pool, metric, sources, matchers, start, end).await?;
                    let chart = if *chart {
                        Some(chart_data(store, metric, sources, labels, start, end).await?)
                    } else {
                        None
                    };
                    out.push(MetricData {
                        metric: metric.to_string(),
                        unit: app::types::unit_of(metric).to_string(),
                        covered_from,
                        series,
                        chart,
                    });
                }
                SectionData::MetricsSummary {
                    title: title.clone(),
                    metrics: out,
                }
            }
            Section::Alerts {
                title,
                show_resolved,
            } => {
                let alerts = alerts(pool, start, end, *show_resolved).await?;
                let mut by_severity = BTreeMap::new();
                for a in &alerts {
                    *by_severity.entry(a.severity.clone()).or_insert(0) += 1;
                }
                SectionData::AlertsSummary {
                    title: title.clone(),
                    show_resolved: *show_resolved,
                    by_severity,
                    alerts,
                }
            }
            Section::SourceHealth { title, sources } => SectionData::SourceHealth {
                title: title.clone(),
                covered_from,
                sources: crate::store::health::availability(pool, sources, start, end).await?,
            },
            Section::McpTools { title, sources } => {
                let mut operations: Vec<McpToolStats> =
                    crate::store::mcp::operation_stats(pool, sources, start, end)
                        .await?
                        .into_iter()
                        .map(|(source, o)| McpToolStats {
                            error_rate_pct: o.error_rate(),
                            source,
                            method: o.method,
                            tool: o.tool,
                            calls: o.calls,
                            errors: o.errors,
                            p50_ms: o.p50_ms,
                            p95_ms: o.p95_ms,
                            p99_ms: o.p99_ms,
                            top_error: o.top_error,
                        })
                        .collect();
                operations.sort_by(|a, b| {
                    (&a.source, a.method != "tools/call", &a.tool, &a.method).cmp(&(
                        &b.source,
                        b.method != "tools/call",
                        &b.tool,
                        &b.method,
                    ))
                });
                SectionData::McpTools {
                    title: title.clone(),
                    covered_from,
                    operations,
                }
            }
        });
        progress(i + 1, template.sections.len());
    }
    Ok(ReportData {
        template: template.name.clone(),
        description: template.description.clone(),
        generated_at,
        period: Span { start, end },
        timezone: template.timezone.name().to_string(),
        sections,
    })
}

/// min / avg / max / last / p95 and the sample count of every matching series over `[start, end)`, from the
/// samples themselves (`chunk::points`: hot rows and compacted chunks), a bounded number of series at a time.
pub async fn stats(
    pool: &PgPool,
    metric: &MetricName,
    sources: &[SourceId],
    matchers: &[LabelMatcher],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<SeriesStats>> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT s.id, s.source, s.labels::text FROM series s WHERE ");
    push_series_filter(&mut sql, metric, sources, matchers);
    sql.push(" ORDER BY s.source, s.labels::text");
    let chosen: Vec<(i64, String, String)> = sql.build_query_as().fetch_all(pool).await?;
    let mut out = Vec::with_capacity(chosen.len());
    for part in chosen.chunks(STATS_SERIES_AT_ONCE) {
        let ids: Vec<i64> = part.iter().map(|(id, _, _)| *id).collect();
        let mut points = crate::store::chunk::points(pool, &ids, start, end).await?;
        for (id, source, labels) in part {
            let Some(p) = points.remove(id) else {
                continue;
            };
            if let Some(stats) = summarise(&p.values) {
                out.push(SeriesStats {
                    source: source.clone(),
                    labels: serde_json::from_str(labels).unwrap_or_default(),
                    ..stats
                });
            }
        }
    }
    Ok(out)
}

/// Series whose samples [`stats`] holds in memory at once.
const STATS_SERIES_AT_ONCE: usize = 64;

/// The figures of one series' values in time order (`None` when there are none), as PostgreSQL's `min`, `avg`,
/// `max` and `percentile_cont(0.95)` give them (NaN sorts above every number).
fn summarise(values: &[f64]) -> Option<SeriesStats> {
    let last = *values.last()?;
    let mut sorted = values.to_vec();
    crate::store::chunk::sort_as_sql(&mut sorted);
    let n = sorted.len();
    Some(SeriesStats {
        source: String::new(),
        labels: BTreeMap::new(),
        samples: n as i64,
        min: sorted[0],
        avg: values.iter().sum::<f64>() / n as f64,
        max: sorted[n - 1],
        last,
        p95: crate::store::chunk::percentile_cont(&sorted, 0.95),
    })
}

async fn chart_data(
    store: &Store,
    metric: &MetricName,
    sources: &[SourceId],
    labels: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<ChartData> {
    let request = QueryRequest {
        metric: metric.to_string(),
        sources: sources.iter().map(ToString::to_string).collect(),
        labels: labels.to_vec(),
        start: Some(start.to_rfc3339()),
        end: Some(end.to_rfc3339()),
        step: None,
        // A counter is charted as its per-second rate (its raw values only climb).
        aggregation: Some(app::types::default_aggregation(metric).into()),
        group_by: Some("series".into()),
        max_points: Some(CHART_POINTS),
        resolution: None,
        window: None,
    };
    let query = crate::store::query::Query::parse(&request, end)
        .map_err(|e| anyhow::anyhow!("chart query for `{metric}`: {e}"))?;
    let result = crate::store::query::run(store, &query).await?;
    Ok(ChartData {
        step_ms: result.step_ms,
        series: result
            .series
            .into_iter()
            .map(|s| ChartLine {
                name: series_name(s.source.as_deref().unwrap_or(metric), &s.labels),
                points: s.points,
            })
            .collect(),
    })
}

/// Alerts that were firing at some time in `[start, end)` (only those still firing at `end` unless
/// `show_resolved`), from the alert history.
async fn alerts(
    pool: &PgPool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    show_resolved: bool,
) -> anyhow::Result<Vec<AlertOccurrence>> {
    type Row = (
        i64,
        String,
        String,
        i64,
        String,
        String,
        String,
        DateTime<Utc>,
        String,
        Option<String>,
        Option<f64>,
        Option<String>,
    );
    // The alerts with history in the period, and those already firing when it began — each read from the start
    // of the firing streak it was in at the period's start (after its last resolution before it).
    let rows: Vec<Row> = sqlx::query_as(
        "WITH last_before AS (
             SELECT DISTINCT ON (rule_id, series_id) rule_id, series_id, phase
             FROM alert_events WHERE at < $1 AND notice IS DISTINCT FROM 'acknowledged'
             ORDER BY rule_id, series_id, at DESC, id DESC),
         pairs AS (
             SELECT DISTINCT rule_id, series_id FROM alert_events WHERE at >= $1 AND at < $2
             UNION
             SELECT rule_id, series_id FROM last_before WHERE phase = 'firing'),
         since AS (
             SELECT p.rule_id, p.series_id,
                    coalesce((SELECT max(x.at) FROM alert_events x
                              WHERE x.rule_id = p.rule_id AND x.series_id = p.series_id AND x.at < $1
                                AND x.phase IN ('resolved', 'inactive')), '-infinity') AS from_at
             FROM pairs p)
         SELECT e.rule_id, r.name, r.severity, e.series_id, s.source, s.metric, s.labels::text, e.at, e.phase,
                e.notice, e.value, e.actor
         FROM alert_events e
         JOIN since ON since.rule_id = e.rule_id AND since.series_id = e.series_id
         JOIN alert_rules r ON r.id = e.rule_id
         JOIN series s ON s.id = e.series_id
         WHERE e.at >= since.from_at AND e.at < $2
         ORDER BY e.rule_id, e.series_id, e.at, e.id",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    let mut current: Option<((i64, i64), AlertOccurrence)> = None;
    let finish = |occ: AlertOccurrence, out: &mut Vec<AlertOccurrence>| {
        let overlaps = occ.fired_at < end && occ.resolved_at.is_none_or(|r| r >= start);
        let shown = show_resolved || occ.resolved_at.is_none();
        if overlaps && shown {
            let from = occ.fired_at.max(start);
            let to = occ.resolved_at.unwrap_or(end).min(end);
            out.push(AlertOccurrence {
                duration_ms: (to - from).num_milliseconds().max(0),
                ..occ
            });
        }
    };
    for r in rows {
        let key = (r.0, r.3);
        if current.as_ref().is_some_and(|(k, _)| *k != key) {
            if let Some((_, occ)) = current.take() {
                finish(occ, &mut out);
            }
        }
        let at = r.7;
        match (r.8.as_str(), r.9.as_deref()) {
            (_, Some("acknowledged")) => {
                if let Some((_, occ)) = current.as_mut() {
                    occ.acknowledged_by = r.11.clone();
                    occ.acknowledged_at = Some(at);
                }
            }
            ("firing", _) => {
                if current.is_none() {
                    current = Some((
                        key,
                        AlertOccurrence {
                            rule: r.1.clone(),
                            severity: r.2.clone(),
                            source: r.4.clone(),
                            metric: r.5.clone(),
                            labels: serde_json::from_str(&r.6).unwrap_or_default(),
                            fired_at: at,
                            resolved_at: None,
                            duration_ms: 0,
                            acknowledged_by: None,
                            acknowledged_at: None,
                            value: r.10,
                        },
                    ));
                }
            }
            ("resolved" | "inactive", _) => {
                if let Some((_, mut occ)) = current.take() {
                    occ.resolved_at = Some(at);
                    finish(occ, &mut out);
                }
            }
            _ => {}
        }
    }
    if let Some((_, occ)) = current.take() {
        finish(occ, &mut out);
    }
    out.sort_by(|a, b| a.fired_at.cmp(&b.fired_at).then(a.rule.cmp(&b.rule)));
    Ok(out)
}
