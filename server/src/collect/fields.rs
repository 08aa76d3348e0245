//! Field checks shared by the source kinds' configurations: an http(s) URL, a duration between bounds, the fields
//! only MCP sources take, and the problem type every check reports (the field it is about and what is wrong).

use app::types::SourceDefinition;
use std::time::Duration;

/// Reports each MCP-only field (`args`, `env`, `headers`, `calls`) that `def` fills: for every kind but `mcp`.
pub fn only_for_mcp(def: &SourceDefinition, problem: &mut impl FnMut(&'static str, String)) {
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

/// One problem with a definition: the field it is about and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// `text` as an http(s) URL with a host, or the problem with it reported against `target`.
pub fn http_url(text: &str, problem: &mut impl FnMut(&'static str, String)) -> Option<url::Url> {
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
