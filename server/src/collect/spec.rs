//! Source definitions checked into typed specs. `mcpulse.toml`'s `[[sources]]` tables, the `source_*` server
//! functions and `POST/PUT /api/sources` all hand a [`SourceDefinition`] to [`SourceSpec::parse`], the one place
//! that checks the fields every source has and dispatches the kind's own to its configuration
//! (`collect/prometheus/config.rs`, `collect/mcp/config.rs`); a spec then builds the running
//! [`Source`](super::Source).

use super::fields::only_for_mcp;
pub use super::fields::{duration_between, Problem};
use super::mcp::config::{McpTarget, ToolCall};
use super::mcp::McpProbe;
use super::prometheus::PrometheusSource;
use super::{Schedule, Source};
use crate::names::{LabelSet, SourceId};
use app::types::SourceDefinition;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// A checked source declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub id: SourceId,
    pub name: String,
    pub kind: SourceKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub labels: LabelSet,
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

impl SourceSpec {
    /// Checks `def`, reporting every problem at once. An empty interval means `default_interval`; an empty
    /// timeout means the interval.
    pub fn parse(def: &SourceDefinition, default_interval: Duration) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(Problem { field, message });
        let id = SourceId::parse(def.id.trim())
            .map_err(|e| problem("id", e.to_string()))
            .ok();
        let name = def.name.trim();
        if name.chars().count() > 128 {
            problem("name", "at most 128 characters".into());
        }
        // Each kind checks its own fields (`collect/<kind>/config.rs`).
        let kind = match def.kind.trim() {
            "prometheus" => super::prometheus::config::parse(def, &mut problem)
                .map(|url| SourceKind::Prometheus { url }),
            "mcp" => super::mcp::config::parse(def, &mut problem)
                .map(|(target, calls)| SourceKind::Mcp { target, calls }),
            other => {
                problem(
                    "kind",
                    format!("{other:?}: unknown kind (expected prometheus or mcp)"),
                );
                only_for_mcp(def, &mut problem);
                None
            }
        };
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
        let labels = match LabelSet::parse_all(def.labels.clone()) {
            Ok(labels) => Some(labels),
            Err(all) => {
                for e in all {
                    problem("labels", e.to_string());
                }
                None
            }
        };
        match (id, kind, labels) {
            (Some(id), Some(kind), Some(labels)) if problems.is_empty() => Ok(SourceSpec {
                name: if name.is_empty() { id.as_str() } else { name }.to_string(),
                id,
                kind,
                interval,
                timeout,
                labels,
                enabled: def.enabled,
            }),
            _ => Err(problems),
        }
    }

    /// The definition this spec was parsed from, normalised (durations written out, defaults filled in).
    pub fn definition(&self) -> SourceDefinition {
        let mut def = SourceDefinition {
            id: self.id.to_string(),
            name: self.name.clone(),
            kind: String::new(),
            target: String::new(),
            interval: humantime::format_duration(self.interval).to_string(),
            timeout: humantime::format_duration(self.timeout).to_string(),
            labels: self.labels.clone().into_inner(),
            enabled: self.enabled,
            args: Vec::new(),
            env: BTreeMap::new(),
            headers: BTreeMap::new(),
            calls: Vec::new(),
        };
        match &self.kind {
            SourceKind::Prometheus { url } => super::prometheus::config::write(url, &mut def),
            SourceKind::Mcp { target, calls } => super::mcp::config::write(target, calls, &mut def),
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
                self.labels.clone().into_inner(),
            )?),
            SourceKind::Mcp { target, calls } => Arc::new(McpProbe::new(
                &self.id,
                &self.name,
                self.labels.clone().into_inner(),
                target.clone(),
                calls.clone(),
                self.interval,
                pool,
            )),
        })
    }
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
