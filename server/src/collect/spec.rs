//! Source definitions checked into typed specs. `mcpulse.toml`'s `[[sources]]` tables, the `source_*` server
//! functions and `POST/PUT /api/sources` all hand a [`SourceDefinition`] to [`SourceSpec::parse`], the one place
//! that decides what a valid source is; a spec then builds the running [`Source`](super::Source).

use super::probe::McpProbe;
use super::prometheus::PrometheusSource;
use super::{is_source_id, Schedule, Source};
use app::types::{SourceDefinition, ToolCallDefinition};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// A checked source declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub id: String,
    pub name: String,
    pub kind: SourceKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub labels: BTreeMap<String, String>,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    Prometheus {
        url: url::Url,
    },
    /// An MCP server probed over the protocol, with the tools it calls every round.
    Mcp {
        target: McpTarget,
        calls: Vec<ToolCall>,
    },
}

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

/// One problem with a definition: the field it is about and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

impl SourceSpec {
    /// Checks `def`, reporting every problem at once. An empty interval means `default_interval`; an empty
    /// timeout means the interval.
    pub fn parse(def: &SourceDefinition, default_interval: Duration) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(Problem { field, message });
        let id = def.id.trim();
        if !is_source_id(id) {
            problem(
                "id",
                format!(
                    "{:?} is not a source id: use 1-64 letters, digits, `.`, `_` or `-`",
                    def.id
                ),
            );
        }
        let name = def.name.trim();
        if name.chars().count() > 128 {
            problem("name", "at most 128 characters".into());
        }
        let kind = match def.kind.trim() {
            "prometheus" => {
                http_url(&def.target, &mut problem).map(|url| SourceKind::Prometheus { url })
            }
            "mcp" => mcp_kind(def, &mut problem),
            other => {
                problem(
                    "kind",
                    format!("{other:?}: unknown kind (expected prometheus or mcp)"),
                );
                None
            }
        };
        if def.kind.trim() != "mcp" {
            for (field, used) in [
                ("args", !def.args.is_empty()),
                ("env", !def.env.is_empty()),
                ("headers", !def.headers.is_empty()),
                ("calls", !def.calls.is_empty()),
            ] {
                if used {
                    problem(field, "only MCP sources (kind mcp) take this".into());
                }
            }
        }
        let interval = match def.interval.trim() {
            "" => default_interval,
            s => duration_between(s, MIN_INTERVAL, MAX_INTERVAL)
                .map_err(|e| problem("interval", format!("{s:?}: {e}")))
                .unwrap_or(default_interval),
        };
        let timeout = match def.timeout.trim() {
            "" => interval,
            s => duration_between(s, MIN_TIMEOUT, interval)
                .map_err(|e| problem("timeout", format!("{s:?}: {e} (at most the interval)")))
                .unwrap_or(interval),
        };
        if def.labels.len() > 32 {
            problem("labels", "at most 32 labels".into());
        }
        for (label, value) in &def.labels {
            if !crate::store::query::is_label_name(label) || label.starts_with("__") {
                problem("labels", format!("`{label}` is not a valid label name"));
            } else if value.len() > 2048 {
                problem(
                    "labels",
                    format!("the value of `{label}` is longer than 2 KiB"),
                );
            }
        }
        match kind {
            Some(kind) if problems.is_empty() => Ok(SourceSpec {
                id: id.to_string(),
                name: if name.is_empty() { id } else { name }.to_string(),
                kind,
                interval,
                timeout,
                labels: def.labels.clone(),
                enabled: def.enabled,
            }),
            _ => Err(problems),
        }
    }

    /// The definition this spec was parsed from, normalised (durations written out, defaults filled in).
    pub fn definition(&self) -> SourceDefinition {
        let mut def = SourceDefinition {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: String::new(),
            target: String::new(),
            interval: humantime::format_duration(self.interval).to_string(),
            timeout: humantime::format_duration(self.timeout).to_string(),
            labels: self.labels.clone(),
            enabled: self.enabled,
            args: Vec::new(),
            env: BTreeMap::new(),
            headers: BTreeMap::new(),
            calls: Vec::new(),
        };
        match &self.kind {
            SourceKind::Prometheus { url } => {
                def.kind = "prometheus".into();
                def.target = url.to_string();
            }
            SourceKind::Mcp { target, calls } => {
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
        }
        def
    }

    /// [`definition`](Self::definition) with secrets (header and environment values) replaced by
    /// [`REDACTED`](app::types::REDACTED): what is shown to users.
    pub fn redacted_definition(&self) -> SourceDefinition {
        let mut def = self.definition();
        for v in def.headers.values_mut().chain(def.env.values_mut()) {
            *v = app::types::REDACTED.to_string();
        }
        def
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            interval: self.interval,
            timeout: self.timeout,
        }
    }

    /// The running source this spec describes; `pool` is where an MCP probe records tool lists (none for a trial).
    pub fn build(&self, pool: Option<sqlx::PgPool>) -> anyhow::Result<Arc<dyn Source>> {
        Ok(match &self.kind {
            SourceKind::Prometheus { url } => Arc::new(PrometheusSource::new(
                &self.id,
                &self.name,
                url.clone(),
                self.labels.clone(),
            )?),
            SourceKind::Mcp { target, calls } => Arc::new(McpProbe::new(
                &self.id,
                &self.name,
                self.labels.clone(),
                target.clone(),
                calls.clone(),
                self.interval,
                pool,
            )),
        })
    }
}

/// Checks the MCP parts of `def`: an http(s) URL (Streamable HTTP) or a command (stdio) as the target, headers
/// only for HTTP, arguments and environment only for stdio, and the tool calls.
fn mcp_kind(
    def: &SourceDefinition,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<SourceKind> {
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
        Some(target) if ok => Some(SourceKind::Mcp { target, calls }),
        _ => None,
    }
}

/// `text` as an http(s) URL with a host, or the problem with it reported against `target`.
fn http_url(text: &str, problem: &mut impl FnMut(&'static str, String)) -> Option<url::Url> {
    match url::Url::parse(text.trim()) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            problem(
                "target",
                format!(
                    "{text:?}: scheme must be http or https, not `{}`",
                    url.scheme()
                ),
            );
            None
        }
        Ok(url) if url.has_host() => Some(url),
        Ok(_) => {
            problem("target", format!("{text:?}: the URL names no host"));
            None
        }
        Err(e) => {
            problem("target", format!("{text:?} is not a URL: {e}"));
            None
        }
    }
}

pub fn duration_between(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration such as 10s, 5m, 2h or 7d ({e})"))?;
    if d < min || d > max {
        return Err(format!(
            "must be between {} and {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str, target: &str, interval: &str, timeout: &str) -> SourceDefinition {
        SourceDefinition {
            id: id.into(),
            name: String::new(),
            kind: "prometheus".into(),
            target: target.into(),
            interval: interval.into(),
            timeout: timeout.into(),
            labels: BTreeMap::new(),
            enabled: true,
            args: Vec::new(),
            env: BTreeMap::new(),
            headers: BTreeMap::new(),
            calls: Vec::new(),
        }
    }

    #[test]
    fn a_good_definition_gets_defaults_and_round_trips() {
        let spec = SourceSpec::parse(
            &def("gw", "http://10.0.0.5:9090/metrics", "", ""),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.interval, spec.timeout),
            ("gw", Duration::from_secs(10), Duration::from_secs(10))
        );
        let again = SourceSpec::parse(&spec.definition(), Duration::from_secs(99)).unwrap();
        assert_eq!(
            again, spec,
            "a spec's definition parses back to the same spec"
        );
    }

    #[test]
    fn every_problem_names_its_field() {
        let mut labels = def("ok", "http://x/metrics", "", "");
        labels.labels.insert("bad-name".into(), "x".into());
        labels.labels.insert("__name__".into(), "x".into());
        let mut kind = def("ok", "http://x/metrics", "", "");
        kind.kind = "snmp".into();
        let cases: &[(SourceDefinition, &[&str], &str)] = &[
            (
                def("bad id", "http://x/", "", ""),
                &["id"],
                "a space in the id",
            ),
            (def("", "http://x/", "", ""), &["id"], "an empty id"),
            (def("a", "ftp://x/metrics", "", ""), &["target"], "not http"),
            (def("a", "not a url", "", ""), &["target"], "not a URL"),
            (
                def("a", "http://x/", "500ms", ""),
                &["interval"],
                "interval below 1s",
            ),
            (
                def("a", "http://x/", "2h", ""),
                &["interval"],
                "interval above 1h",
            ),
            (
                def("a", "http://x/", "10s", "20s"),
                &["timeout"],
                "timeout above the interval",
            ),
            (
                def("a", "http://x/", "soon", ""),
                &["interval"],
                "not a duration",
            ),
            (labels, &["labels", "labels"], "two bad label names"),
            (kind, &["kind"], "unknown kind"),
            (
                def("bad id", "x", "0s", ""),
                &["id", "target", "interval"],
                "all at once",
            ),
        ];
        for (def, fields, why) in cases {
            let problems = SourceSpec::parse(def, Duration::from_secs(10)).unwrap_err();
            let got: Vec<&str> = problems.iter().map(|p| p.field).collect();
            assert_eq!(&got, fields, "{why}: {problems:?}");
        }
    }
}
