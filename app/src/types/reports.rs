//! Report templates and report runs.

use super::*;

/// A report template as forms and the REST API write it; the server checks it, naming the first bad field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportTemplateDraft {
    pub name: String,
    pub description: String,
    /// Any of `html`, `json`, `csv`.
    pub formats: Vec<String>,
    /// A cron expression (`0 9 * * *`, `0 9 * * MON`, `@daily`; an optional sixth leading field is seconds), or
    /// empty: generated only on demand.
    pub schedule: String,
    /// The IANA time zone the schedule is read in (`Europe/Berlin`; default `UTC`).
    pub timezone: String,
    /// What a run covers: a duration ending when the run is due (`24h`, `7d`), or `since_last` (from the end of
    /// the previous successful run; 24 hours for the first).
    pub period: String,
    /// Email addresses the finished report is sent to (needs `smtp.url`).
    pub recipients: Vec<String>,
    /// In order.
    pub sections: Vec<ReportSection>,
    pub enabled: bool,
}

impl Default for ReportTemplateDraft {
    fn default() -> Self {
        ReportTemplateDraft {
            name: String::new(),
            description: String::new(),
            formats: vec!["html".into(), "json".into(), "csv".into()],
            schedule: String::new(),
            timezone: "UTC".into(),
            period: "24h".into(),
            recipients: Vec::new(),
            sections: Vec::new(),
            enabled: true,
        }
    }
}

/// One section of a report template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportSection {
    /// min / avg / max / last / p95 of every series of the chosen metrics over the period, and a chart per metric.
    MetricsSummary {
        #[serde(default)]
        title: String,
        metrics: Vec<String>,
        /// Source ids (empty: all).
        #[serde(default)]
        sources: Vec<String>,
        /// Label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
        #[serde(default)]
        labels: Vec<String>,
        #[serde(default = "yes")]
        chart: bool,
    },
    /// Alerts that fired in the period, with duration, severity and acknowledgement.
    AlertsSummary {
        #[serde(default)]
        title: String,
        /// Also alerts that resolved within the period (otherwise only those still firing at its end).
        #[serde(default = "yes")]
        show_resolved: bool,
    },
    /// Availability (share of successful collection rounds) and longest outage per source.
    SourceHealth {
        #[serde(default)]
        title: String,
        /// Source ids (empty: all collected sources).
        #[serde(default)]
        sources: Vec<String>,
    },
    /// Per probed MCP server and tool (and protocol method): calls, error rate, latency percentiles.
    McpTools {
        #[serde(default)]
        title: String,
        /// Source ids of MCP probes (empty: all).
        #[serde(default)]
        sources: Vec<String>,
    },
}

fn yes() -> bool {
    true
}

impl ReportSection {
    pub const KINDS: [(&'static str, &'static str); 4] = [
        ("metrics_summary", "Metrics summary"),
        ("alerts_summary", "Alerts summary"),
        ("source_health", "Source health"),
        ("mcp_tools", "MCP tools"),
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            ReportSection::MetricsSummary { .. } => "metrics_summary",
            ReportSection::AlertsSummary { .. } => "alerts_summary",
            ReportSection::SourceHealth { .. } => "source_health",
            ReportSection::McpTools { .. } => "mcp_tools",
        }
    }

    /// An empty section of `kind`.
    pub fn new(kind: &str) -> Option<ReportSection> {
        Some(match kind {
            "metrics_summary" => ReportSection::MetricsSummary {
                title: String::new(),
                metrics: Vec::new(),
                sources: Vec::new(),
                labels: Vec::new(),
                chart: true,
            },
            "alerts_summary" => ReportSection::AlertsSummary {
                title: String::new(),
                show_resolved: true,
            },
            "source_health" => ReportSection::SourceHealth {
                title: String::new(),
                sources: Vec::new(),
            },
            "mcp_tools" => ReportSection::McpTools {
                title: String::new(),
                sources: Vec::new(),
            },
            _ => return None,
        })
    }

    /// The title, or the kind's name when none is set.
    pub fn title(&self) -> String {
        let (ReportSection::MetricsSummary { title, .. }
        | ReportSection::AlertsSummary { title, .. }
        | ReportSection::SourceHealth { title, .. }
        | ReportSection::McpTools { title, .. }) = self;
        if title.trim().is_empty() {
            Self::KINDS
                .iter()
                .find(|(k, _)| *k == self.kind())
                .map(|(_, name)| name.to_string())
                .unwrap_or_default()
        } else {
            title.trim().to_string()
        }
    }
}

/// A stored report template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportTemplateInfo {
    pub id: i64,
    pub template: ReportTemplateDraft,
    /// When the scheduler runs it next (none: on demand only, disabled, or the schedule never fires).
    #[serde(default, with = "crate::wire::opt_time")]
    pub next_run: Option<DateTime<Utc>>,
    /// Something to know that is not an error, e.g. a schedule that never fires.
    pub warning: Option<String>,
    pub created_by: String,
    #[serde(with = "crate::wire::time")]
    pub updated_at: DateTime<Utc>,
}

/// A generated (or generating) report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportInfo {
    pub id: i64,
    pub template_id: Option<i64>,
    pub template_name: String,
    /// running, succeeded or failed.
    pub status: String,
    pub error: Option<String>,
    /// schedule, manual or cli.
    pub trigger: String,
    pub requested_by: Option<String>,
    #[serde(with = "crate::wire::time")]
    pub period_start: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub period_end: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The files, once it succeeded: format and size in bytes.
    pub files: Vec<(String, i64)>,
    /// What became of the email, if it had recipients.
    pub email_status: Option<String>,
}

/// Which generated reports to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportFilter {
    pub template_id: Option<i64>,
    /// Reports started at or after this time (RFC 3339 or a date, `2026-11-24`).
    pub from: Option<String>,
    /// Reports started before this time (a date means the end of that day).
    pub to: Option<String>,
    pub limit: Option<i64>,
}
