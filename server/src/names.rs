//! The names samples carry, checked in one place: source ids, metric and label names (the Prometheus grammar) and
//! mcpulse's limits on a sample's labels. Collection (scrapes, pushes, OTLP), the query language, rules, report
//! templates and the configuration all ask here, so a name that one accepts the others accept too.
//!
//! Data in: strings from configuration, requests and scraped text. Data out: yes/no, or the problem in words.

use std::collections::BTreeMap;

/// A sample's labels, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Most labels per sample, and the longest label name, label value and metric name accepted from any source.
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL_NAME: usize = 128;
pub const MAX_LABEL_VALUE: usize = 2048;
pub const MAX_METRIC_NAME: usize = 200;

/// Source ids: 1–64 letters, digits, `.`, `_` or `-`.
pub fn is_source_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Prometheus metric name grammar: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus label name grammar: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a sample's metric name and labels against the Prometheus grammar and mcpulse's limits (label names
/// starting with `__` are reserved).
pub fn check_sample(metric: &str, labels: &Labels) -> Result<(), String> {
    if metric.len() > MAX_METRIC_NAME || !is_metric_name(metric) {
        return Err(format!("`{metric}` is not a valid metric name"));
    }
    if labels.len() > MAX_LABELS {
        return Err(format!(
            "{} labels; at most {MAX_LABELS} are allowed",
            labels.len()
        ));
    }
    for (name, v) in labels {
        if name.len() > MAX_LABEL_NAME || !is_label_name(name) || name.starts_with("__") {
            return Err(format!("`{name}` is not a valid label name"));
        }
        if v.len() > MAX_LABEL_VALUE {
            return Err(format!(
                "the value of label `{name}` is longer than {MAX_LABEL_VALUE} bytes"
            ));
        }
    }
    Ok(())
}
