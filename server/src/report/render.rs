//! [`ReportData`] into files: HTML (one self-contained page: inline CSS and SVG charts drawn by the same
//! `app::chart` code as the browser's charts; every text auto-escaped by askama), JSON (the data itself) and CSV
//! (one table per section). All three are CPU work: callers run them on a blocking thread.
//!
//! CSV layout: sections follow one another separated by an empty line. Each starts with a title row
//! `section,<kind>,<title>`, then a header row, then one row per item:
//! - `metrics_summary`: `metric,source,labels,samples,min,avg,max,last,p95` (labels as `name=value` joined by `;`);
//! - `alerts_summary`: `rule,severity,source,metric,labels,fired_at,resolved_at,duration_s,acknowledged_by,acknowledged_at,value`;
//! - `source_health`: `source,rounds,availability_pct,outages,longest_outage_s,longest_outage_start`;
//! - `mcp_tools`: `source,method,tool,calls,errors,error_rate_pct,p50_ms,p95_ms,p99_ms,top_error`.
//!
//! Times are RFC 3339 UTC; numbers are plain. Quoting follows RFC 4180; text cells starting with `=`, `+`, `-`,
//! `@`, tab or carriage return are prefixed with `'` so a spreadsheet never runs them.

use super::data::{ReportData, SectionData};
use crate::export::inert_cell;
use app::chart::draw::{color_css, color_slots};
use app::chart::{render, ChartSeries, ChartSpec};
use app::types::format_value;
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};

const CHART_WIDTH: u32 = 900;
const CHART_HEIGHT: u32 = 260;

pub fn json(data: &ReportData) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(data)?)
}

pub fn csv(data: &ReportData) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let pairs = |labels: &std::collections::BTreeMap<String, String>| {
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    for (i, section) in data.sections.iter().enumerate() {
        // One writer per table, joined by an empty line (the csv crate writes an empty record as `""`).
        if i > 0 {
            bytes.push(b'\n');
        }
        let mut out = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        match section {
            SectionData::MetricsSummary { title, metrics } => {
                out.write_record(["section", "metrics_summary", &inert_cell(title)])?;
                out.write_record([
                    "metric", "source", "labels", "samples", "min", "avg", "max", "last", "p95",
                ])?;
                for m in metrics {
                    for s in &m.series {
                        out.write_record([
                            inert_cell(&m.metric).as_ref(),
                            &inert_cell(&s.source),
                            &inert_cell(&pairs(&s.labels)),
                            &s.samples.to_string(),
                            &s.min.to_string(),
                            &s.avg.to_string(),
                            &s.max.to_string(),
                            &s.last.to_string(),
                            &s.p95.to_string(),
                        ])?;
                    }
                }
            }
            SectionData::AlertsSummary { title, alerts, .. } => {
                out.write_record(["section", "alerts_summary", &inert_cell(title)])?;
                out.write_record([
                    "rule",
                    "severity",
                    "source",
                    "metric",
                    "labels",
                    "fired_at",
                    "resolved_at",
                    "duration_s",
                    "acknowledged_by",
                    "acknowledged_at",
                    "value",
                ])?;
                for a in alerts {
                    out.write_record([
                        inert_cell(&a.rule).as_ref(),
                        &a.severity,
                        &inert_cell(&a.source),
                        &inert_cell(&a.metric),
                        &inert_cell(&pairs(&a.labels)),
                        &time(&a.fired_at),
                        &a.resolved_at.as_ref().map(time).unwrap_or_default(),
                        &(a.duration_ms as f64 / 1000.0).to_string(),
                        &inert_cell(a.acknowledged_by.as_deref().unwrap_or("")),
                        &a.acknowledged_at.as_ref().map(time).unwrap_or_default(),
                        &a.value.map(|v| v.to_string()).unwrap_or_default(),
                    ])?;
                }
            }
            SectionData::SourceHealth { title, sources, .. } => {
                out.write_record(["section", "source_health", &inert_cell(title)])?;
                out.write_record([
                    "source",
                    "rounds",
                    "availability_pct",
                    "outages",
                    "longest_outage_s",
                    "longest_outage_start",
                ])?;
                for s in sources {
                    out.write_record([
                        inert_cell(&s.source).as_ref(),
                        &s.rounds.to_string(),
                        &s.availability_pct
                            .map(|p| format!("{p:.3}"))
                            .unwrap_or_default(),
                        &s.outages.to_string(),
                        &(s.longest_outage_ms as f64 / 1000.0).to_string(),
                        &s.longest_outage_start
                            .as_ref()
                            .map(time)
                            .unwrap_or_default(),
                    ])?;
                }
            }
            SectionData::McpTools {
                title, operations, ..
            } => {
                out.write_record(["section", "mcp_tools", &inert_cell(title)])?;
                out.write_record([
                    "source",
                    "method",
                    "tool",
                    "calls",
                    "errors",
                    "error_rate_pct",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "top_error",
                ])?;
                let num = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
                for o in operations {
                    out.write_record([
                        inert_cell(&o.source).as_ref(),
                        &inert_cell(&o.method),
                        &inert_cell(o.tool.as_deref().unwrap_or("")),
                        &o.calls.to_string(),
                        &o.errors.to_string(),
                        &format!("{:.3}", o.error_rate_pct),
                        &num(o.p50_ms),
                        &num(o.p95_ms),
                        &num(o.p99_ms),
                        &inert_cell(o.top_error.as_deref().unwrap_or("")),
                    ])?;
                }
            }
        }
        bytes.extend(out.into_inner()?);
    }
    Ok(bytes)
}

/// The page's view of the data: text already formatted, so the template only lays it out.
#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    title: &'a str,
    description: &'a str,
    period: String,
    generated: String,
    sections: Vec<PageSection>,
}

struct PageSection {
    title: String,
    kind: &'static str,
    /// Said under the title (e.g. that the statistics cover less than the period).
    note: Option<String>,
    /// Shown instead of a table when there is nothing to show.
    empty: Option<String>,
    metrics: Vec<PageMetric>,
    alerts_summary: String,
    alerts: Vec<PageAlert>,
    sources: Vec<PageSource>,
    tools: Vec<PageTool>,
}

struct PageTool {
    server: String,
    operation: String,
    calls: i64,
    errors: String,
    grade: &'static str,
    p50: String,
    p95: String,
    p99: String,
}

struct PageMetric {
    metric: String,
    svg: Option<String>,
    rows: Vec<PageSeries>,
}

struct PageSeries {
    color: String,
    name: String,
    samples: i64,
    min: String,
    avg: String,
    max: String,
    last: String,
    p95: String,
}

struct PageAlert {
    rule: String,
    severity: String,
    series: String,
    fired: String,
    resolved: String,
    duration: String,
    acknowledged: String,
}

struct PageSource {
    source: String,
    availability: String,
    /// `ok`, `warn` or `bad`, for colour.
    grade: &'static str,
    rounds: i64,
    outages: i64,
    longest: String,
}

pub fn html(data: &ReportData) -> anyhow::Result<Vec<u8>> {
    // Times in the template's time zone, named (`2026-12-01 19:00 CET`).
    let zone: chrono_tz::Tz = data.timezone.parse().unwrap_or(chrono_tz::UTC);
    let time = |t: &DateTime<Utc>| {
        t.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let sections = data
        .sections
        .iter()
        .map(|section| match section {
                        SectionData::MetricsSummary { title, metrics } => {
                let data_metrics = metrics;
                let metrics: Vec<PageMetric> = metrics
                    .iter()
                    .map(|m| {
                        let svg = m.chart.as_ref().map(|c| {
                            let series: Vec<ChartSeries> = c
                                .series
                                .iter()
                                .map(|l| ChartSeries {
                                    name: l.name.clone(),
                                    points: l.points.clone(),
                                })
                                .collect();
                            // A counter's chart is its rate (see `chart_data`).
                            let unit = match app::types::is_counter(&m.metric) {
                                true => format!("{}/s", m.unit),
                                false => m.unit.clone(),
                            };
                            let spec = ChartSpec::new(
                                CHART_WIDTH,
                                CHART_HEIGHT,
                                &unit,
                                (
                                    data.period.start.timestamp_millis(),
                                    data.period.end.timestamp_millis(),
                                ),
                            );
                            render(&series, &|_| false, &spec).svg
                        });
                        // Table rows in the chart's order, so the colours match its lines.
                        let color_of = |name: &str| {
                            m.chart
                                .as_ref()
                                .and_then(|c| {
                                    let slots = color_slots(c.series.iter().map(|l| l.name.as_str()));
                                    c.series.iter().position(|l| l.name == name).map(|i| slots[i])
                                })
                                .map(color_css)
                                .unwrap_or_else(|| "transparent".into())
                        };
                        PageMetric {
                            metric: m.metric.clone(),
                            svg,
                            rows: m
                                .series
                                .iter()
                                .map(|s| {
                                    let name = s.name();
                                    PageSeries {
                                        color: color_of(&name),
                                        name,
                                        samples: s.samples,
                                        min: format_value(s.min, &m.unit),
                                        avg: format_value(s.avg, &m.unit),
                                        max: format_value(s.max, &m.unit),
                                        last: format_value(s.last, &m.unit),
                                        p95: format_value(s.p95, &m.unit),
                                    }
                                })
                                .collect(),
                        }
                    })
                    .collect();
                                let empty = metrics
                    .iter()
                    .all(|m| m.rows.is_empty())
                    .then(|| "No samples in this period.".to_string());
                let note = data_metrics.iter().find_map(|m| m.covered_from).map(|from| {
                    format!(
                        "Raw samples are kept for storage.retention: the statistics cover {} onwards; the charts the whole period.",
                        time(&from)
                    )
                });
                PageSection {
                    title: title.clone(),
                    kind: "metrics",
                    note,
                    empty,
                    metrics,
                    alerts_summary: String::new(),
                    alerts: Vec::new(),
                    sources: Vec::new(),
                    tools: Vec::new(),
                }
            }
            SectionData::AlertsSummary {
                title,
                alerts,
                by_severity,
                ..
            } => {
                let counts: Vec<String> = ["critical", "error", "warning", "info"]
                    .iter()
                    .filter_map(|s| by_severity.get(*s).map(|n| format!("{n} {s}")))
                    .collect();
                let alerts_summary = match alerts.len() {
                    0 => String::new(),
                    1 => format!("1 alert: {}", counts.join(", ")),
                    n => format!("{n} alerts: {}", counts.join(", ")),
                };
                                PageSection {
                    title: title.clone(),
                    kind: "alerts",
                    note: None,
                    empty: alerts
                        .is_empty()
                        .then(|| "No alerts fired in this period.".to_string()),
                    metrics: Vec::new(),
                    alerts_summary,
                    alerts: alerts
                        .iter()
                        .map(|a| PageAlert {
                            rule: a.rule.clone(),
                            severity: a.severity.clone(),
                            series: format!(
                                "{} · {}",
                                super::data::series_name(&a.source, &a.labels),
                                a.metric
                            ),
                            fired: time(&a.fired_at),
                            resolved: a
                                .resolved_at
                                .as_ref()
                                .map(time)
                                .unwrap_or_else(|| "still firing".into()),
                            duration: human_ms(a.duration_ms),
                            acknowledged: match (&a.acknowledged_by, &a.acknowledged_at) {
                                (Some(by), Some(at)) => format!("{by}, {}", time(at)),
                                _ => "—".into(),
                            },
                        })
                        .collect(),
                    sources: Vec::new(),
                    tools: Vec::new(),
                }
            }
                        SectionData::SourceHealth {
                title,
                sources,
                covered_from,
            } => PageSection {
                title: title.clone(),
                kind: "sources",
                note: covered_from.map(|from| {
                    format!(
                        "Raw samples are kept for storage.retention: availability covers {} onwards.",
                        time(&from)
                    )
                }),
                empty: sources
                    .is_empty()
                    .then(|| "No collected sources in this period.".to_string()),
                metrics: Vec::new(),
                alerts_summary: String::new(),
                alerts: Vec::new(),
                sources: sources
                    .iter()
                    .map(|s| PageSource {
                        source: s.source.clone(),
                        availability: s
                            .availability_pct
                            .map(|p| format!("{p:.2} %"))
                            .unwrap_or_else(|| "no data".into()),
                        grade: match s.availability_pct {
                            Some(p) if p >= 99.9 => "ok",
                            Some(p) if p >= 99.0 => "warn",
                            Some(_) => "bad",
                            None => "warn",
                        },
                        rounds: s.rounds,
                        outages: s.outages,
                        longest: match (s.longest_outage_ms, &s.longest_outage_start) {
                            (0, _) | (_, None) => "—".into(),
                            (ms, Some(at)) => format!("{} from {}", human_ms(ms), time(at)),
                        },
                    })
                    .collect(),
                tools: Vec::new(),
            },
            SectionData::McpTools {
                title,
                covered_from,
                operations,
            } => {
                let ms = |v: Option<f64>| {
                    v.map(|v| format!("{v:.1} ms"))
                        .unwrap_or_else(|| "—".into())
                };
                PageSection {
                    title: title.clone(),
                    kind: "mcp-tools",
                    note: covered_from.map(|from| {
                        format!(
                            "Raw samples are kept for storage.retention: the figures cover {} onwards.",
                            time(&from)
                        )
                    }),
                    empty: operations
                        .is_empty()
                        .then(|| "No MCP server was probed in this period.".to_string()),
                    metrics: Vec::new(),
                    alerts_summary: String::new(),
                    alerts: Vec::new(),
                    sources: Vec::new(),
                    tools: operations
                        .iter()
                        .map(|o| PageTool {
                            server: o.source.clone(),
                            operation: match &o.tool {
                                Some(tool) => format!("{} {tool}", o.method),
                                None => o.method.clone(),
                            },
                            calls: o.calls,
                            errors: match &o.top_error {
                                Some(e) => format!("{:.1} % ({e})", o.error_rate_pct),
                                None => format!("{:.1} %", o.error_rate_pct),
                            },
                            grade: match o.error_rate_pct {
                                r if r == 0.0 => "ok",
                                r if r < 1.0 => "warn",
                                _ => "bad",
                            },
                            p50: ms(o.p50_ms),
                            p95: ms(o.p95_ms),
                            p99: ms(o.p99_ms),
                        })
                        .collect(),
                }
            }
        })
        .collect();
    let page = Page {
        title: &data.template,
        description: &data.description,
        period: format!("{} — {}", time(&data.period.start), time(&data.period.end)),
        generated: time(&data.generated_at),
        sections,
    };
    Ok(page.render()?.into_bytes())
}

/// `90061000` → `1d 1h 1m`.
pub fn human_ms(ms: i64) -> String {
    let s = ms / 1000;
    if s < 60 {
        return format!("{s}s");
    }
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 && d == 0 {
        parts.push(format!("{m}m"));
    }
    parts.join(" ")
}
