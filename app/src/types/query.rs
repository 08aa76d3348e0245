//! Time series as the query engine answers them, the dashboard's first render and the metric catalog.

use super::*;

/// One point of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Milliseconds since the Unix epoch (UTC).
    pub t: i64,
    pub v: f64,
}

/// The latest value of one metric of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentValue {
    pub source: String,
    pub metric: String,
    pub value: f64,
    #[serde(with = "crate::wire::time")]
    pub at: DateTime<Utc>,
}

/// Everything the dashboard needs for its first render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardData {
    pub user: UserInfo,
    pub values: Vec<CurrentValue>,
    pub sources: Vec<SourceStatus>,
    /// The charted series: a metric of a source (averaged over its label sets).
    pub chart_source: String,
    pub chart_metric: String,
    /// Its points over [`DashboardData::window_secs`], oldest first.
    pub points: Vec<Point>,
    pub window_secs: i64,
    /// Server time of this answer, milliseconds since the epoch: the right edge of the chart.
    pub now_ms: i64,
    /// Pending and firing alerts, firing first.
    pub alerts: Vec<AlertInfo>,
}

/// A time-series query as the UI and the REST API send it; the server parses it into a checked query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    pub metric: String,
    /// Source ids; empty means all.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// RFC 3339, Unix seconds, or relative (`-1h`); default: an hour before `end`.
    pub start: Option<String>,
    /// Default: now.
    pub end: Option<String>,
    /// Bucket width, e.g. `1m` or seconds; grows to respect `max_points`.
    pub step: Option<String>,
    /// sum, avg (default), min, max, count, last; of counters: rate (per second) or increase (per bucket), with
    /// Prometheus' reset and extrapolation rules, summed over each group's series.
    pub aggregation: Option<String>,
    /// The window `rate`/`increase` look back over per bucket (at least the step); default: the larger of the
    /// step and four sample intervals.
    #[serde(default)]
    pub window: Option<String>,
    /// Empty: one series of everything; `series`: one per stored series; `source,zone`: one per value of those.
    pub group_by: Option<String>,
    /// Most buckets per series (about two per pixel column of the chart).
    pub max_points: Option<usize>,
    /// `auto` (default): read rollup tiers where the step allows; `raw`: always read raw samples.
    pub resolution: Option<String>,
}

/// One result series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesData {
    pub source: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub points: Vec<Point>,
}

/// What a query returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    pub metric: String,
    pub aggregation: String,
    #[serde(with = "crate::wire::time")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub end: DateTime<Utc>,
    pub step_ms: i64,
    /// Where the buckets came from: `raw` samples, or a rollup tier (`1m`, `1h`) with raw samples after its
    /// watermark.
    pub resolution: String,
    pub series: Vec<SeriesData>,
}

/// A metric as the explorer's picker offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCatalog {
    pub metric: String,
    /// Source ids reporting it.
    pub sources: Vec<String>,
    /// Label names its series carry.
    pub labels: Vec<String>,
    /// How many series it has.
    pub series: i64,
}
