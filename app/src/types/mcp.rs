//! The MCP page: probed servers, their tools, per-operation statistics and tool-list versions.

use super::*;

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
