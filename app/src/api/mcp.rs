//! The MCP page: probed servers with their tools and statistics.

use crate::error::AppError;
use leptos::prelude::*;

/// Probed MCP servers: tools, per-tool latency percentiles and error rates over the last `window` (`1h`, `24h`,
/// `7d`; default 1h), and tool-schema history.
#[server(prefix = "/api/fn", endpoint = "mcp_servers", output = crate::codec::Answer)]
pub async fn mcp_servers(window: String) -> Result<Vec<crate::types::McpServerView>, AppError> {
    crate::engine::serve_as(crate::types::Role::Viewer, |engine, _| async move {
        let window = match window.trim() {
            "" | "1h" => std::time::Duration::from_secs(3600),
            "24h" => std::time::Duration::from_secs(86400),
            "7d" => std::time::Duration::from_secs(7 * 86400),
            other => {
                return Err(AppError::invalid(
                    "window",
                    format!("{other:?}: expected 1h, 24h or 7d"),
                ))
            }
        };
        engine.mcp_servers(window).await
    })
    .await
}
