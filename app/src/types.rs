//! Types shared by the server and the browser: what crosses the wire between the engine, the server functions, the
//! websocket and the pages. Nothing here does I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a signed-in user may do. Ordered: a higher role includes everything a lower one may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected viewer, editor or admin)"
            )),
        }
    }
}

/// The signed-in user as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

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

/// An API token as admins see it (never the secret itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    /// The role the token acts with on `/mcp` (never more than its creator's current role).
    pub role: Role,
    pub created_by: String,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// A freshly created token: the secret is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub info: TokenInfo,
    pub token: String,
}

/// A source and its health, as `/api/sources`, the dashboard and the sources page show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub description: String,
    pub interval_secs: f64,
    /// Where the source is defined (and so whether it may be edited at runtime).
    pub origin: SourceOrigin,
    /// `false`: defined but not collected.
    pub enabled: bool,
    /// The definition of a declared source (`config` or `runtime`), as a form or `PUT /api/sources/{id}` takes it.
    pub definition: Option<SourceDefinition>,
    /// `None` until the first round finished.
    pub up: Option<bool>,
    /// When the latest round (successful or not) was taken.
    #[serde(default, with = "crate::wire::opt_time")]
    pub last_scrape: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<f64>,
    /// Samples collected by the last successful round.
    pub last_samples: usize,
}

impl SourceStatus {
    /// `disabled`, `never` (no round finished yet), `up` or `down`.
    pub fn state(&self) -> &'static str {
        match (self.enabled, self.up) {
            (false, _) => "disabled",
            (true, None) => "never",
            (true, Some(true)) => "up",
            (true, Some(false)) => "down",
        }
    }
}

/// Where a source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceOrigin {
    /// Part of mcpulse (`self`, or registered in code).
    Builtin,
    /// A `[[sources]]` table of `mcpulse.toml`: read-only at runtime.
    Config,
    /// Created by an admin at runtime (server functions or REST), stored in the database.
    Runtime,
    /// Samples pushed to `/api/v1/ingest`.
    Push,
}

impl SourceOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceOrigin::Builtin => "builtin",
            SourceOrigin::Config => "config",
            SourceOrigin::Runtime => "runtime",
            SourceOrigin::Push => "push",
        }
    }
}

/// A source as it is declared: a `[[sources]]` table of `mcpulse.toml`, the body of `POST /api/sources`, or the
/// sources page's form. The server checks it into a typed spec through one path for all three; a problem is
/// reported against the field's name (`id`, `kind`, `target`, `interval`, `timeout`, `labels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDefinition {
    /// Unique id: 1-64 letters, digits, `.`, `_`, `-` (it becomes the `source` of every sample). May be left out
    /// when changing a source (the path names it).
    #[serde(default)]
    pub id: String,
    /// Display name (empty: the id).
    #[serde(default)]
    pub name: String,
    /// `prometheus` or `mcp`.
    pub kind: String,
    /// For `prometheus`: the http(s) URL to scrape. For `mcp`: the server's Streamable HTTP endpoint (an http(s)
    /// URL), or the command that starts it over stdio (its arguments in `args`).
    pub target: String,
    /// How often to collect, e.g. `15s` (empty: `collection.interval`); 1s-1h.
    #[serde(default)]
    pub interval: String,
    /// How long a round may take (empty: the interval, which is also the maximum).
    #[serde(default)]
    pub timeout: String,
    /// Labels added to every sample of the source (Prometheus label-name grammar).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Collect it (default true); a disabled source is kept but not collected.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// For `mcp` over stdio: the command's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// For `mcp` over stdio: environment variables of the server process (values are secrets: shown redacted).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// For `mcp` over HTTP: request headers, e.g. `Authorization = "Bearer …"` (values shown redacted).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
    /// For `mcp`: tools called every round with fixed arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<ToolCallDefinition>,
}

/// What a redacted secret (a header or environment value of an MCP probe) reads as; sent back unchanged when a
/// source is edited, it keeps the stored value.
pub const REDACTED: &str = "••••••";

/// A `tools/call` an MCP probe makes every round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallDefinition {
    /// The tool's name.
    pub tool: String,
    /// The arguments: a JSON object, written as such (TOML table, JSON object) or as JSON text. (The browser only
    /// ever receives text, and leaves the structured form's code out.)
    #[cfg_attr(feature = "ssr", serde(default, deserialize_with = "json_object_text"))]
    #[cfg_attr(not(feature = "ssr"), serde(default))]
    pub arguments: String,
}

/// Accepts a JSON object either as text or as a structured value, and keeps it as text.
#[cfg(feature = "ssr")]
fn json_object_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrObject {
        Text(String),
        Object(serde_json::Map<String, serde_json::Value>),
    }
    Ok(match TextOrObject::deserialize(d)? {
        TextOrObject::Text(s) => s,
        TextOrObject::Object(o) => serde_json::Value::Object(o).to_string(),
    })
}

fn default_true() -> bool {
    true
}

/// The outcome of one trial collection round of a definition that is not stored ("Test" on the sources page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTestResult {
    /// Whether the round succeeded.
    pub ok: bool,
    /// Samples the round returned.
    pub samples: usize,
    pub duration_ms: f64,
    /// The first few distinct metric names, in the order they came.
    pub metric_names: Vec<String>,
    /// Why the round failed.
    pub error: Option<String>,
}

/// One collection round of one source, as pushed to live clients over `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSamples {
    pub source: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub t: i64,
    pub values: Vec<(String, f64)>,
}

/// The close code of a `/ws` connection whose session ended (signed out everywhere, password reset, user demoted
/// below viewer): the browser goes to the sign-in page instead of reconnecting.
pub const LIVE_CLOSE_SIGNED_OUT: u16 = 4401;

/// A message on the `/ws` websocket, server to browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    Samples(LiveSamples),
    /// Sent whenever an alert changes state or is acknowledged: every pending and firing alert, firing first.
    Alerts {
        alerts: Vec<AlertInfo>,
    },
}

impl LiveMessage {
    /// Reads a message as the browser receives it: the `type` first, then the body as that kind. (Serde's derived
    /// reading of an internally tagged enum buffers the whole message in a generic tree and carries a third copy of
    /// every nested type's decoder into the WASM.)
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Tag<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        #[derive(Deserialize)]
        struct Alerts {
            alerts: Vec<AlertInfo>,
        }
        match serde_json::from_str::<Tag>(text)?.kind.as_ref() {
            "samples" => serde_json::from_str(text).map(LiveMessage::Samples),
            "alerts" => serde_json::from_str::<Alerts>(text)
                .map(|a| LiveMessage::Alerts { alerts: a.alerts }),
            other => Err(serde::de::Error::unknown_variant(
                other,
                &["samples", "alerts"],
            )),
        }
    }
}

/// The metrics of the built-in `self` source, in display order, with their units.
pub const SELF_METRICS: &[(&str, &str)] = &[
    ("requests_total", ""),
    ("errors_total", ""),
    ("response_time_ms", "ms"),
    ("active_connections", ""),
    ("process_resident_memory_bytes", "bytes"),
    ("ingest_samples_per_second", "/s"),
];

/// Formats a value for a tile: integers without decimals, bytes in binary units.
/// The unit a metric's values are in: known for `self`'s metrics, else read from the name's suffix as Prometheus
/// naming conventions have it (`_bytes`, `_seconds`, `_ms`).
/// Whether a metric is by its name a counter (Prometheus' naming rules: `_total`), so charting it raw would
/// mislead: charts show its rate.
pub fn is_counter(metric: &str) -> bool {
    metric.ends_with("_total")
}

/// The aggregation a metric is charted with when the view names none: the per-second rate for counters, else the
/// average.
pub fn default_aggregation(metric: &str) -> &'static str {
    if is_counter(metric) {
        "rate"
    } else if is_histogram_bucket(metric) {
        "p95"
    } else {
        "avg"
    }
}

/// Whether a metric is the bucket series of a Prometheus histogram (`_bucket` with `le` labels), charted as a
/// percentile.
pub fn is_histogram_bucket(metric: &str) -> bool {
    metric.ends_with("_bucket")
}

pub fn unit_of(metric: &str) -> &'static str {
    if let Some((_, unit)) = SELF_METRICS.iter().find(|(m, _)| *m == metric) {
        return unit;
    }
    let base = metric
        .strip_suffix("_total")
        .or_else(|| metric.strip_suffix("_bucket"))
        .unwrap_or(metric);
    if base.ends_with("_bytes") {
        "bytes"
    } else if base.ends_with("_seconds") {
        "s"
    } else if base.ends_with("_ms") || base.ends_with("_milliseconds") {
        "ms"
    } else {
        ""
    }
}

pub fn format_value(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    // A rate: the unit's value per second.
    if let Some(base) = unit.strip_suffix("/s") {
        return format!("{}/s", format_value(value, base));
    }
    match unit {
        "bytes" => {
            let mut v = value;
            let mut i = 0;
            const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
            while v >= 1024.0 && i < UNITS.len() - 1 {
                v /= 1024.0;
                i += 1;
            }
            format!("{v:.1} {}", UNITS[i])
        }
        _ => {
            let s = if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{value:.0}")
            } else if value.abs() < 0.995 {
                // Small rates keep three significant digits (0.0333, not 0.03).
                let digits = (2 - value.abs().log10().floor() as i32).clamp(2, 12) as usize;
                format!("{value:.digits$}")
            } else {
                format!("{value:.2}")
            };
            if unit.is_empty() {
                s
            } else {
                format!("{s} {unit}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn values_are_formatted_for_humans() {
        let cases = [
            (3.0, "", "3"),
            (2.5, "ms", "2.50 ms"),
            (3.0 * 1024.0 * 1024.0, "bytes", "3.0 MiB"),
            (f64::NAN, "", "NaN"),
            (1.0 / 30.0, "/s", "0.0333/s"),
            (2048.0, "bytes/s", "2.0 KiB/s"),
            (0.999_999_9, "s", "1.00 s"),
        ];
        for (value, unit, want) in cases {
            assert_eq!(format_value(value, unit), want, "{value} {unit}");
        }
    }
}

/// An alert rule as forms, the REST API and `mcpulse.toml` write it; the server checks it into a rule, naming the
/// first bad field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleDraft {
    pub name: String,
    pub description: String,
    pub metric: String,
    /// Source ids (empty: all).
    pub sources: Vec<String>,
    /// Label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
    pub matchers: Vec<String>,
    /// How the samples of each series within `window` become one value: last (default), avg, min, max, sum, count.
    pub reduce: String,
    /// e.g. `5m` (default 5m).
    pub window: String,
    /// One of `>`, `<`, `==`, `!=`, `>=`, `<=`.
    pub condition: String,
    pub threshold: String,
    /// How long the condition must hold before the alert fires, e.g. `5m` (default 0: at once).
    #[serde(rename = "for")]
    pub for_: String,
    /// How long an alert keeps firing after the condition stops holding.
    pub keep_firing_for: String,
    /// info, warning, error or critical.
    pub severity: String,
    pub enabled: bool,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `summary`, `runbook_url`, …
    pub annotations: std::collections::BTreeMap<String, String>,
    /// What an active alert does while its series has no sample within the lookback: `keep` (default: it stays
    /// as it was, marked NoData), `alerting` (counts as holding) or `ok` (counts as not holding, so it resolves).
    pub no_data: String,
}

impl Default for RuleDraft {
    fn default() -> Self {
        RuleDraft {
            name: String::new(),
            description: String::new(),
            metric: String::new(),
            sources: Vec::new(),
            matchers: Vec::new(),
            reduce: "last".into(),
            window: "5m".into(),
            condition: ">".into(),
            threshold: String::new(),
            for_: "0".into(),
            keep_firing_for: "0".into(),
            severity: "warning".into(),
            enabled: true,
            labels: Default::default(),
            annotations: Default::default(),
            no_data: "keep".into(),
        }
    }
}

/// A stored alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: i64,
    #[serde(flatten)]
    pub rule: RuleDraft,
    pub created_by: String,
    #[serde(with = "crate::wire::time")]
    pub updated_at: DateTime<Utc>,
    /// `api` (made in the UI or API) or `config` (declared in mcpulse.toml: read-only).
    pub origin: String,
    /// The latest evaluation: `ok`, `nodata` (no series had a sample within the lookback), `error` (the query
    /// failed: see `health_error`) or `unknown` (not evaluated yet).
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub health_error: Option<String>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// One alert: a rule's state for one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInfo {
    pub rule_id: i64,
    /// With `rule_id`, names the alert (e.g. to acknowledge it).
    pub series_id: i64,
    #[serde(default, with = "crate::wire::opt_time")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub rule_name: String,
    pub severity: String,
    /// pending, firing or resolved.
    pub state: String,
    pub source: String,
    pub metric: String,
    /// The series' labels plus the rule's.
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The value last compared with the threshold.
    pub value: Option<f64>,
    pub threshold: f64,
    pub condition: String,
    #[serde(default, with = "crate::wire::opt_time")]
    pub active_since: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub firing_since: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub flapping: bool,
    /// `ok`, `nodata` (its series has had no sample within the lookback since `health_since`; the state is kept
    /// or changed as the rule's `no_data` says) or `error` (its rule's query failed; the state is kept).
    #[serde(default)]
    pub health: String,
    #[serde(default, with = "crate::wire::opt_time")]
    pub health_since: Option<DateTime<Utc>>,
    /// The silence muting its notifications now, if one does (the one ending last).
    #[serde(default)]
    pub silenced: Option<SilencedBy>,
}

/// Who silenced an alert, until when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilencedBy {
    /// The silence's id.
    pub id: i64,
    pub by: String,
    #[serde(with = "crate::wire::time")]
    pub until: DateTime<Utc>,
    pub comment: String,
}

/// A contact point as forms and the REST API write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactPointDraft {
    pub name: String,
    /// console, webhook (Alertmanager's webhook format), slack (incoming webhook) or logstash (JSON over HTTP).
    pub kind: String,
    /// For webhook, slack and logstash: where to POST.
    pub url: String,
    /// The least severity it receives: info (default), warning, error or critical.
    pub min_severity: String,
    pub enabled: bool,
    /// Empty: notified at once. A duration (e.g. `15m`) makes it an escalation step: it hears of a firing alert
    /// only after the alert has fired that long without being acknowledged.
    pub escalate_after: String,
    /// Label matchers over the alert's labels (`team=search`, `severity=~error|critical`): empty receives all.
    pub matchers: Vec<String>,
}

impl Default for ContactPointDraft {
    fn default() -> Self {
        ContactPointDraft {
            name: String::new(),
            kind: "webhook".into(),
            url: String::new(),
            min_severity: "info".into(),
            enabled: true,
            escalate_after: String::new(),
            matchers: Vec::new(),
        }
    }
}

/// A stored contact point; its URL is shown redacted (scheme and host only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactPointInfo {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub min_severity: String,
    pub enabled: bool,
    /// Set for escalation steps, e.g. `15m`.
    pub escalate_after: Option<String>,
    /// Only alerts matching all of these are routed here.
    pub matchers: Vec<String>,
    /// Notices waiting for delivery (retrying included), and given up on.
    pub queued: i64,
    pub failed: i64,
    #[serde(default)]
    pub delivered: i64,
    /// The latest delivery attempt, its error (None: it was delivered), and when the next retry is due.
    #[serde(default, with = "crate::wire::opt_time")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub next_retry_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// How many hours the rule editor's backtest replays.
pub const BACKTEST_HOURS: i64 = 6;

/// The rule editor's backtest: the rule as drafted, replayed by the alert engine's own evaluation over the last
/// [`BACKTEST_HOURS`] of stored samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleBacktest {
    #[serde(with = "crate::wire::time")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub end: DateTime<Utc>,
    /// How far apart the replayed evaluations are.
    pub step_ms: i64,
    pub series: Vec<BacktestSeries>,
    /// More series matched than were replayed.
    pub more: bool,
}

/// One series of a [`RuleBacktest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestSeries {
    pub source: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// The value the rule compared with its threshold at each evaluation that had data.
    pub points: Vec<Point>,
    /// When the alert would have been firing, `(from, to)` in milliseconds since the epoch.
    pub firing: Vec<(i64, i64)>,
}

/// What a contact point's test notification did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPointTest {
    pub delivered: bool,
    /// What the receiver did, in words (e.g. "delivered: 200 OK", or the error).
    pub message: String,
}

/// A silence as forms and the REST API write it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SilenceDraft {
    /// Label matchers over the alert's labels (series and rule labels plus `alertname`, `severity`, `source`,
    /// `metric`): `name=value`, `name!=value`, `name=~regex`, `name!~regex`. At least one.
    pub matchers: Vec<String>,
    /// RFC 3339; default now.
    pub starts_at: Option<String>,
    /// How long it lasts from its start, e.g. `2h`.
    pub duration: String,
    pub comment: String,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceInfo {
    pub id: i64,
    pub matchers: Vec<String>,
    #[serde(with = "crate::wire::time")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub ends_at: DateTime<Utc>,
    pub comment: String,
    pub created_by: String,
    pub active: bool,
}

/// One entry of an alert's history: a state change or a notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub id: i64,
    pub rule_id: i64,
    pub rule_name: String,
    pub series_id: i64,
    pub source: String,
    pub metric: String,
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(with = "crate::wire::time")]
    pub at: DateTime<Utc>,
    /// The state after the event: pending, firing, resolved or inactive.
    pub state: String,
    /// The notice sent, if any: firing, resolved, flapping, no_data, error.
    pub notice: Option<String>,
    pub value: Option<f64>,
}

impl AlertInfo {
    /// Pending or firing (not resolved).
    pub fn is_active(&self) -> bool {
        self.state == "pending" || self.state == "firing"
    }
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

#[cfg(test)]
mod live_tests {
    use super::*;

    #[test]
    fn every_live_message_round_trips_through_json() {
        let messages = [
            LiveMessage::Samples(LiveSamples {
                source: "self".into(),
                t: 1,
                values: vec![("up".into(), 1.0)],
            }),
            LiveMessage::Alerts { alerts: Vec::new() },
        ];
        assert!(LiveMessage::from_json(r#"{"type": "other"}"#).is_err());
        for m in messages {
            let text = serde_json::to_string(&m).expect("serialisable");
            assert_eq!(
                serde_json::from_str::<LiveMessage>(&text).unwrap(),
                m,
                "{text}"
            );
            assert_eq!(
                LiveMessage::from_json(&text).unwrap(),
                m,
                "as the browser reads it: {text}"
            );
        }
    }
}

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

/// A probed MCP server as the MCP page shows it: its source's health, what it says it is, its tools with their
/// latency and errors over the chosen window, and its tool-schema history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerView {
    pub source: SourceStatus,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    pub protocol_version: Option<String>,
    /// The current tool list (the newest recorded version), with each tool's calls in the window.
    pub tools: Vec<McpToolView>,
    /// Latency and errors of every method (`initialize`, `ping`, `tools/list`, `tools/call` per tool …).
    pub operations: Vec<McpOperationStats>,
    /// Tool-list versions, newest first.
    pub history: Vec<McpSchemaVersion>,
}

/// One tool of a probed server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpToolView {
    pub name: String,
    pub description: Option<String>,
    /// Its `tools/call` statistics, when the probe calls it.
    pub stats: Option<McpOperationStats>,
}

/// Requests of one method (and tool) in a window: how many, how many failed, latency percentiles (ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpOperationStats {
    pub method: String,
    pub tool: Option<String>,
    pub calls: i64,
    pub errors: i64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The most frequent error type, if any failed.
    pub top_error: Option<String>,
}

impl McpOperationStats {
    /// Failed share in percent.
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 * 100.0 / self.calls as f64
        }
    }
}

/// One version of a server's tool list and how it differs from the one before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpSchemaVersion {
    #[serde(with = "crate::wire::time")]
    pub seen_at: DateTime<Utc>,
    /// The 32-bit schema hash (`mcp_tools_schema_hash`), in hex.
    pub hash: String,
    pub tools: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Tools whose description or schemas changed.
    pub changed: Vec<String>,
}
