//! Sources: their definitions (as forms and the REST API write them), their health, and a test's result.

use super::*;

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
