//! The `mcp` source kind's configuration: how the server is reached (Streamable HTTP with headers, or a stdio
//! command with arguments and environment) and the tool calls made every round. Data in: a
//! [`SourceDefinition`] (from `mcpulse.toml`, the web UI or the REST API, via `collect::spec`); data out: a checked
//! [`McpTarget`] and [`ToolCall`]s, or every problem at once.

use crate::collect::fields::http_url;
use app::types::{SourceDefinition, ToolCallDefinition};
use std::collections::BTreeMap;

/// How an MCP server is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum McpTarget {
    /// Streamable HTTP at `url`, with extra request headers.
    Http {
        url: url::Url,
        headers: BTreeMap<String, String>,
    },
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

/// A `tools/call` made every round.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub tool: String,
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// Most tool calls per probe round.
pub const MAX_CALLS: usize = 16;
/// Headers the MCP transport sets itself.
const TRANSPORT_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// Checks the MCP parts of `def`: an http(s) URL (Streamable HTTP) or a command (stdio) as the target, headers
/// only for HTTP, arguments and environment only for stdio, and the tool calls. Every problem is reported through
/// `problem`; the target and calls come back only when there was none.
pub fn parse(
    def: &SourceDefinition,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<(McpTarget, Vec<ToolCall>)> {
    let target = def.target.trim();
    let lower = target.to_ascii_lowercase();
    let looks_like_url = lower.starts_with("http://") || lower.starts_with("https://");
    let mut ok = true;
    let target = if looks_like_url {
        http_url(target, &mut *problem).map(|url| {
            if !def.args.is_empty() {
                problem(
                    "args",
                    "arguments are for stdio servers (a command as the target)".into(),
                );
                ok = false;
            }
            if !def.env.is_empty() {
                problem(
                    "env",
                    "environment variables are for stdio servers (a command as the target)".into(),
                );
                ok = false;
            }
            for (name, value) in &def.headers {
                let lower = name.to_ascii_lowercase();
                if TRANSPORT_HEADERS.contains(&lower.as_str()) {
                    problem(
                        "headers",
                        format!("`{name}` is set by the MCP transport itself"),
                    );
                    ok = false;
                } else if axum::http::HeaderName::try_from(name.as_str()).is_err() {
                    problem("headers", format!("`{name}` is not a valid header name"));
                    ok = false;
                } else if axum::http::HeaderValue::try_from(value.as_str()).is_err() {
                    problem(
                        "headers",
                        format!("the value of `{name}` is not a valid header value"),
                    );
                    ok = false;
                }
            }
            McpTarget::Http {
                url,
                headers: def.headers.clone(),
            }
        })
    } else if target.is_empty() {
        problem(
            "target",
            "give the server's http(s) URL (Streamable HTTP) or the command that starts it (stdio)"
                .into(),
        );
        None
    } else if target.contains(char::is_whitespace) && def.args.is_empty() {
        problem(
            "target",
            format!("{target:?}: give the command alone and its arguments in `args`"),
        );
        None
    } else {
        if !def.headers.is_empty() {
            problem(
                "headers",
                "headers are for servers reached over HTTP".into(),
            );
            ok = false;
        }
        for name in def.env.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                problem(
                    "env",
                    format!("{name:?} is not an environment variable name"),
                );
                ok = false;
            }
        }
        Some(McpTarget::Stdio {
            command: target.to_string(),
            args: def.args.clone(),
            env: def.env.clone(),
        })
    };
    if def.calls.len() > MAX_CALLS {
        problem("calls", format!("at most {MAX_CALLS} tool calls"));
        ok = false;
    }
    let mut calls = Vec::new();
    for call in &def.calls {
        let tool = call.tool.trim();
        if tool.is_empty() || tool.len() > 128 {
            problem(
                "calls",
                "every call names a tool (at most 128 characters)".into(),
            );
            ok = false;
            continue;
        }
        let text = call.arguments.trim();
        match serde_json::from_str::<serde_json::Value>(if text.is_empty() { "{}" } else { text }) {
            Ok(serde_json::Value::Object(arguments)) => calls.push(ToolCall {
                tool: tool.to_string(),
                arguments,
            }),
            Ok(_) => {
                problem(
                    "calls",
                    format!("the arguments of `{tool}` must be a JSON object"),
                );
                ok = false;
            }
            Err(e) => {
                problem(
                    "calls",
                    format!("the arguments of `{tool}` are not JSON: {e}"),
                );
                ok = false;
            }
        }
    }
    match target {
        Some(target) if ok => Some((target, calls)),
        _ => None,
    }
}

/// Writes the kind's fields into `def` (the reverse of [`parse`]).
pub fn write(target: &McpTarget, calls: &[ToolCall], def: &mut SourceDefinition) {
    def.kind = "mcp".into();
    match target {
        McpTarget::Http { url, headers } => {
            def.target = url.to_string();
            def.headers = headers.clone();
        }
        McpTarget::Stdio { command, args, env } => {
            def.target = command.clone();
            def.args = args.clone();
            def.env = env.clone();
        }
    }
    def.calls = calls
        .iter()
        .map(|c| ToolCallDefinition {
            tool: c.tool.clone(),
            arguments: serde_json::Value::Object(c.arguments.clone()).to_string(),
        })
        .collect();
}
