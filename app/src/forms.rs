//! Forms as the browser posts them.
//!
//! Every form of the app is a real `<form method="post">` aimed at a server function, so it works before the page
//! is interactive, or without script at all: the browser posts the form's fields (named `form[<field>]`, a ticked
//! checkbox present as `on`), the server function deserializes them into one of the `*Fields` types below, parses
//! them into a draft with the same code the hydrated page uses, and answers with a redirect back to the page (leptos'
//! form redirects; a problem travels in the URL to the form's `ServerAction`, which shows it under its field). The
//! hydrated page sends the same `*Fields` from its signals, so both paths are one.
//!
//! Parsing here only turns text into shapes (pairs, lists, lines); what the values mean is checked by the engine.
//! Every shape problem is named at once.

use crate::error::{AppError, Problems};
use crate::types::{
    ContactPointDraft, ReportSection, ReportTemplateDraft, RuleDraft, SilenceDraft,
    SourceDefinition, ToolCallDefinition,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A checkbox: posted (as `on`, or its `value`) when ticked, absent otherwise. Serialized only when ticked, so the
/// hydrated page's submission reads exactly like the browser's.
pub mod checkbox {
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(on: &bool, s: S) -> Result<S::Ok, S::Error> {
        if *on {
            s.serialize_str("on")
        } else {
            s.serialize_str("")
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        struct Ticked;
        impl de::Visitor<'_> for Ticked {
            type Value = bool;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a checkbox value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
                Ok(!matches!(v, "" | "false" | "off"))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
        }
        d.deserialize_any(Ticked)
    }
}

fn off(on: &bool) -> bool {
    !*on
}

/// `team=search, env=prod` → a map; a pair without `=` is an error naming it.
pub fn parse_pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut pairs = BTreeMap::new();
    for pair in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!(
                "`{pair}`: write name=value pairs, separated by commas"
            ));
        };
        pairs.insert(name.trim().to_string(), value.trim().to_string());
    }
    Ok(pairs)
}

/// A map as `name=value, …` for a text field.
pub fn format_pairs(pairs: &BTreeMap<String, String>) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a, b` (or one per line) → `["a", "b"]`.
pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `NAME<sep>value` lines (blank lines skipped).
pub fn parse_lines(text: &str, sep: char) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        // Named by its number, not quoted: the line may hold a secret (a header's value), and a problem met by a
        // form the browser posted itself travels in the redirect's URL.
        let (k, v) = line
            .split_once(sep)
            .ok_or_else(|| format!("line {}: expected NAME{sep}value", n + 1))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// `NAME<sep>value` per line.
pub fn format_lines(map: &BTreeMap<String, String>, sep: &str) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}{sep}{v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` trimmed, or — left empty — the default the API gives a field that is left out.
fn or_default(text: &str, default: &str) -> String {
    match text.trim() {
        "" => default.to_string(),
        text => text.to_string(),
    }
}

/// The id being changed (`form[editing]`), or `None` for a new one.
fn editing_id(text: &str, problems: &mut Problems) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            problems.add("editing", format!("`{text}` is not an id"));
            None
        }
    }
}

/// The sources form (`/sources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceFields {
    /// The id of the runtime source being changed; empty when adding one.
    pub editing: String,
    pub id: String,
    pub name: String,
    /// `prometheus` or `mcp`.
    pub kind: String,
    pub target: String,
    pub interval: String,
    pub timeout: String,
    /// `name=value` pairs separated by commas.
    pub labels: String,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub enabled: bool,
    /// MCP over stdio: one argument per line.
    pub args: String,
    /// MCP over stdio: `NAME=value` per line.
    pub env: String,
    /// MCP over HTTP: `Name: value` per line.
    pub headers: String,
    /// MCP: `tool {"json": "arguments"}` per line.
    pub calls: String,
}

impl SourceFields {
    /// The source being changed (`None`: a new one) and its definition. MCP-only fields count only for `mcp`.
    pub fn definition(&self) -> Result<(Option<String>, SourceDefinition), AppError> {
        let mut problems = Problems::new();
        let mcp = self.kind == "mcp";
        let text = |s: &String| if mcp { s.clone() } else { String::new() };
        let mut shaped = |field: &str, parsed: Result<BTreeMap<String, String>, String>| {
            parsed.unwrap_or_else(|m| {
                problems.add(field, m);
                BTreeMap::new()
            })
        };
        let labels = shaped("labels", parse_pairs(&self.labels));
        let env = shaped("env", parse_lines(&text(&self.env), '='));
        let headers = shaped("headers", parse_lines(&text(&self.headers), ':'));
        problems.finish()?;
        let lines = |s: &String| {
            text(s)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let editing = Some(self.editing.trim().to_string()).filter(|e| !e.is_empty());
        let def = SourceDefinition {
            id: self.id.trim().to_string(),
            name: self.name.trim().to_string(),
            kind: self.kind.trim().to_string(),
            target: self.target.trim().to_string(),
            interval: self.interval.trim().to_string(),
            timeout: self.timeout.trim().to_string(),
            labels,
            enabled: self.enabled,
            args: lines(&self.args),
            env,
            headers,
            calls: lines(&self.calls)
                .iter()
                .map(|l| {
                    let (tool, arguments) = l
                        .split_once(char::is_whitespace)
                        .unwrap_or((l.as_str(), ""));
                    ToolCallDefinition {
                        tool: tool.to_string(),
                        arguments: arguments.trim().to_string(),
                    }
                })
                .collect(),
        };
        Ok((editing, def))
    }
}

/// The alert rule form (`/alerts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleFields {
    /// The id of the rule being changed; empty for a new one.
    pub editing: String,
    pub name: String,
    pub description: String,
    pub metric: String,
    /// Source ids, comma-separated (empty: all).
    pub sources: String,
    /// Label matchers, comma-separated.
    pub matchers: String,
    pub reduce: String,
    pub window: String,
    pub condition: String,
    pub threshold: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub keep_firing_for: String,
    pub no_data: String,
    pub severity: String,
    /// `name=value` pairs.
    pub labels: String,
    /// The `summary` annotation (other annotations, set through the API, are kept as they are).
    pub summary: String,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub enabled: bool,
}

impl RuleFields {
    /// The rule being changed (`None`: a new one) and its draft, with `annotations` other than the summary kept.
    pub fn draft(
        &self,
        mut annotations: BTreeMap<String, String>,
    ) -> Result<(Option<i64>, RuleDraft), AppError> {
        let mut problems = Problems::new();
        let editing = editing_id(&self.editing, &mut problems);
        let labels = parse_pairs(&self.labels).unwrap_or_else(|m| {
            problems.add("labels", m);
            BTreeMap::new()
        });
        problems.finish()?;
        let summary = self.summary.trim();
        annotations.remove("summary");
        if !summary.is_empty() {
            annotations.insert("summary".to_string(), summary.to_string());
        }
        let defaults = RuleDraft::default();
        let draft = RuleDraft {
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            metric: self.metric.trim().to_string(),
            sources: split_list(&self.sources),
            matchers: split_list(&self.matchers),
            reduce: or_default(&self.reduce, &defaults.reduce),
            window: or_default(&self.window, &defaults.window),
            condition: or_default(&self.condition, &defaults.condition),
            threshold: self.threshold.trim().to_string(),
            for_: or_default(&self.for_, &defaults.for_),
            keep_firing_for: or_default(&self.keep_firing_for, &defaults.keep_firing_for),
            no_data: or_default(&self.no_data, &defaults.no_data),
            severity: or_default(&self.severity, &defaults.severity),
            enabled: self.enabled,
            labels,
            annotations,
        };
        Ok((editing, draft))
    }
}

/// The silence form (`/alerts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SilenceFields {
    /// The id of the silence being changed in place; empty for a new one.
    pub editing: String,
    /// The start the changed silence keeps (RFC 3339); empty for a new one.
    pub starts_at: String,
    /// Matchers, comma-separated.
    pub matchers: String,
    pub duration: String,
    pub comment: String,
}

impl SilenceFields {
    pub fn draft(&self) -> Result<(Option<i64>, SilenceDraft), AppError> {
        let mut problems = Problems::new();
        let editing = editing_id(&self.editing, &mut problems);
        problems.finish()?;
        let starts_at = Some(self.starts_at.trim().to_string()).filter(|s| !s.is_empty());
        Ok((
            editing,
            SilenceDraft {
                matchers: split_list(&self.matchers),
                starts_at: editing.and(starts_at),
                duration: self.duration.trim().to_string(),
                comment: self.comment.trim().to_string(),
            },
        ))
    }
}

/// The contact point form (`/alerts`, admins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactFields {
    /// The id of the contact point being changed; empty for a new one.
    pub editing: String,
    pub name: String,
    pub kind: String,
    /// Empty while changing one: the stored URL stays.
    pub url: String,
    pub min_severity: String,
    /// `false` keeps a disabled contact point disabled when it is changed (a hidden field).
    pub enabled: String,
    pub escalate_after: String,
    /// Matchers, comma-separated.
    pub matchers: String,
}

impl ContactFields {
    pub fn draft(&self) -> Result<(Option<i64>, ContactPointDraft), AppError> {
        let mut problems = Problems::new();
        let editing = editing_id(&self.editing, &mut problems);
        problems.finish()?;
        let defaults = ContactPointDraft::default();
        Ok((
            editing,
            ContactPointDraft {
                name: self.name.trim().to_string(),
                kind: or_default(&self.kind, &defaults.kind),
                url: self.url.trim().to_string(),
                min_severity: or_default(&self.min_severity, &defaults.min_severity),
                enabled: self.enabled.trim() != "false",
                escalate_after: self.escalate_after.trim().to_string(),
                matchers: split_list(&self.matchers),
            },
        ))
    }
}

/// The API token form (`/users`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenFields {
    pub name: String,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub ingest: bool,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub read: bool,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub write: bool,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub mcp: bool,
    /// e.g. `90d`; empty: never.
    pub expires_in: String,
    /// The role the token acts with on the REST API and `/mcp`.
    pub role: String,
}

impl TokenFields {
    /// The ticked scopes, comma-separated.
    pub fn scopes(&self) -> String {
        [
            (self.ingest, "ingest"),
            (self.read, "read"),
            (self.write, "write"),
            (self.mcp, "mcp"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// The report template form (`/reports`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateFields {
    /// The id of the template being changed; empty for a new one.
    pub editing: String,
    pub name: String,
    pub description: String,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub html: bool,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub json: bool,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub csv: bool,
    pub schedule: String,
    pub timezone: String,
    pub period: String,
    /// Email addresses, comma-separated.
    pub recipients: String,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub enabled: bool,
    /// In order.
    pub sections: Vec<SectionFields>,
}

/// One section of a report template's form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SectionFields {
    pub kind: String,
    pub title: String,
    pub metrics: String,
    pub sources: String,
    pub labels: String,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub chart: bool,
    #[serde(with = "checkbox", skip_serializing_if = "off")]
    pub show_resolved: bool,
}

impl SectionFields {
    pub fn of(s: &ReportSection) -> Self {
        let mut f = SectionFields {
            kind: s.kind().to_string(),
            chart: true,
            show_resolved: true,
            ..Default::default()
        };
        match s {
            ReportSection::MetricsSummary {
                title,
                metrics,
                sources,
                labels,
                chart,
            } => {
                f.title = title.clone();
                f.metrics = metrics.join(", ");
                f.sources = sources.join(", ");
                f.labels = labels.join(", ");
                f.chart = *chart;
            }
            ReportSection::AlertsSummary {
                title,
                show_resolved,
            } => {
                f.title = title.clone();
                f.show_resolved = *show_resolved;
            }
            ReportSection::SourceHealth { title, sources }
            | ReportSection::McpTools { title, sources } => {
                f.title = title.clone();
                f.sources = sources.join(", ");
            }
        }
        f
    }

    pub fn section(&self) -> ReportSection {
        let title = self.title.trim().to_string();
        match self.kind.as_str() {
            "alerts_summary" => ReportSection::AlertsSummary {
                title,
                show_resolved: self.show_resolved,
            },
            "source_health" => ReportSection::SourceHealth {
                title,
                sources: split_list(&self.sources),
            },
            "mcp_tools" => ReportSection::McpTools {
                title,
                sources: split_list(&self.sources),
            },
            _ => ReportSection::MetricsSummary {
                title,
                metrics: split_list(&self.metrics),
                sources: split_list(&self.sources),
                labels: split_list(&self.labels),
                chart: self.chart,
            },
        }
    }
}

impl TemplateFields {
    pub fn draft(&self) -> Result<(Option<i64>, ReportTemplateDraft), AppError> {
        let mut problems = Problems::new();
        let editing = editing_id(&self.editing, &mut problems);
        problems.finish()?;
        let formats = [("html", self.html), ("json", self.json), ("csv", self.csv)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| f.to_string())
            .collect();
        let defaults = ReportTemplateDraft::default();
        Ok((
            editing,
            ReportTemplateDraft {
                name: self.name.trim().to_string(),
                description: self.description.trim().to_string(),
                formats,
                schedule: self.schedule.trim().to_string(),
                timezone: or_default(&self.timezone, &defaults.timezone),
                period: or_default(&self.period, &defaults.period),
                recipients: split_list(&self.recipients),
                sections: self.sections.iter().map(SectionFields::section).collect(),
                enabled: self.enabled,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_lists_are_written_with_commas() {
        let pairs = parse_pairs(" team=search, env = prod ,\n").unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs["env"], "prod");
        assert_eq!(format_pairs(&pairs), "env=prod, team=search");
        assert!(parse_pairs("").unwrap().is_empty());
        assert!(parse_pairs("team").unwrap_err().contains("name=value"));
        assert_eq!(split_list(" a, b\n,c "), vec!["a", "b", "c"]);
        // Matchers with regex alternatives keep their `|`.
        assert_eq!(
            split_list("severity=~error|critical"),
            vec!["severity=~error|critical"]
        );
    }

    /// What the browser posts and what the hydrated page sends read the same: the same query-string decoder the
    /// server function uses (serde_qs, as leptos configures it) on a browser-shaped body and on our own encoding.
    #[test]
    fn a_browser_post_and_the_pages_own_submission_decode_alike() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Args {
            form: TemplateFields,
        }
        let qs = serde_qs::Config::new(5, false);
        let browser = "form%5Bname%5D=Daily&form%5Bhtml%5D=on&form%5Bcsv%5D=on&form%5Bperiod%5D=24h\
            &form%5Bsections%5D%5B0%5D%5Bkind%5D=alerts_summary&form%5Bsections%5D%5B0%5D%5Bshow_resolved%5D=on\
            &form%5Bsections%5D%5B1%5D%5Bkind%5D=source_health&form%5Bsections%5D%5B1%5D%5Bsources%5D=a%2C+b";
        let posted: Args = qs.deserialize_str(browser).unwrap();
        let (editing, draft) = posted.form.draft().unwrap();
        assert_eq!(editing, None);
        assert_eq!(
            draft.formats,
            vec!["html", "csv"],
            "unticked boxes are absent"
        );
        assert!(!draft.enabled);
        assert_eq!(draft.sections.len(), 2);
        assert_eq!(
            draft.sections[1],
            ReportSection::SourceHealth {
                title: String::new(),
                sources: vec!["a".into(), "b".into()]
            }
        );
        let ours = serde_qs::to_string(&posted).unwrap();
        assert_eq!(qs.deserialize_str::<Args>(&ours).unwrap(), posted);

        // A source's MCP fields count only for kind mcp; every shape problem is named at once.
        let bad = SourceFields {
            kind: "mcp".into(),
            labels: "team".into(),
            env: "NOVALUE".into(),
            ..Default::default()
        };
        let e = bad.definition().unwrap_err();
        let fields: Vec<String> = e.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, vec!["labels", "env"]);
        let prometheus = SourceFields {
            kind: "prometheus".into(),
            env: "NOVALUE".into(),
            ..Default::default()
        };
        assert!(prometheus.definition().unwrap().1.env.is_empty());
    }
}
