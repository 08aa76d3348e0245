//! Alert rules as domain types that cannot be invalid. A [`RuleDraft`] (strings and numbers, from a form, the REST
//! API or `mcpulse.toml`) becomes a [`Rule`] through [`Rule::parse`], which names every bad field at once; everything
//! downstream (the engine, the notifier) works with checked values only.

use super::state::Timing;
use crate::names::{is_label_name, LabelSet, MetricName, SourceId};
use crate::store::query::LabelMatcher;
use app::error::{AppError, Problems};
use app::types::RuleDraft;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Gt,
    Lt,
    Eq,
    Ne,
    Ge,
    Le,
}

impl Condition {
    pub fn parse(s: &str) -> Option<Condition> {
        Some(match s.trim() {
            ">" | "gt" => Condition::Gt,
            "<" | "lt" => Condition::Lt,
            "==" | "=" | "eq" => Condition::Eq,
            "!=" | "ne" => Condition::Ne,
            ">=" | "ge" | "gte" => Condition::Ge,
            "<=" | "le" | "lte" => Condition::Le,
            _ => return None,
        })
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Condition::Gt => value > threshold,
            Condition::Lt => value < threshold,
            Condition::Eq => value == threshold,
            Condition::Ne => value != threshold,
            Condition::Ge => value >= threshold,
            Condition::Le => value <= threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Gt => ">",
            Condition::Lt => "<",
            Condition::Eq => "==",
            Condition::Ne => "!=",
            Condition::Ge => ">=",
            Condition::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "warning" | "warn" => Severity::Warning,
            "error" => Severity::Error,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a series' samples within the rule's window become the one value compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// The latest sample (the window only bounds how old it may be).
    Last,
    Avg,
    Min,
    Max,
    Sum,
    Count,
}

impl Reduce {
    pub fn parse(s: &str) -> Option<Reduce> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "" | "last" => Reduce::Last,
            "avg" | "mean" => Reduce::Avg,
            "min" => Reduce::Min,
            "max" => Reduce::Max,
            "sum" => Reduce::Sum,
            "count" => Reduce::Count,
            _ => return None,
        })
    }

    /// The value a rule reducing with `self` over `window` sees at `now` among `samples` (sorted by time): for
    /// `last`, the latest sample at or before `now` no older than `window.max(floor)`; for the others, over the
    /// samples in `(now - window, now]`. `None`: no data. The evaluator computes the same in SQL
    /// (`Alerting::observe`); the backtest replays with this.
    pub fn over(
        self,
        samples: &[(DateTime<Utc>, f64)],
        now: DateTime<Utc>,
        window: Duration,
        floor: Duration,
    ) -> Option<f64> {
        let seen = &samples[..samples.partition_point(|(t, _)| *t <= now)];
        if self == Reduce::Last {
            let since = now - chrono::Duration::from_std(window.max(floor)).ok()?;
            return seen.last().filter(|(t, _)| *t >= since).map(|(_, v)| *v);
        }
        let since = now - chrono::Duration::from_std(window).ok()?;
        let inside = &seen[seen.partition_point(|(t, _)| *t <= since)..];
        if inside.is_empty() {
            return None;
        }
        let values = inside.iter().map(|(_, v)| *v);
        Some(match self {
            Reduce::Avg => values.sum::<f64>() / inside.len() as f64,
            Reduce::Min => values.fold(f64::INFINITY, f64::min),
            Reduce::Max => values.fold(f64::NEG_INFINITY, f64::max),
            Reduce::Sum => values.sum(),
            Reduce::Count | Reduce::Last => inside.len() as f64,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reduce::Last => "last",
            Reduce::Avg => "avg",
            Reduce::Min => "min",
            Reduce::Max => "max",
            Reduce::Sum => "sum",
            Reduce::Count => "count",
        }
    }
}

/// What an active alert does while its series has no sample within the lookback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoData {
    /// Stays as it was (marked NoData): no data never resolves an alert.
    #[default]
    Keep,
    /// Counts as holding.
    Alerting,
    /// Counts as not holding: the alert resolves as if the value were fine.
    Ok,
}

impl NoData {
    pub fn parse(s: &str) -> Option<NoData> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "" | "keep" | "keep_last_state" => NoData::Keep,
            "alerting" | "alert" => NoData::Alerting,
            "ok" => NoData::Ok,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoData::Keep => "keep",
            NoData::Alerting => "alerting",
            NoData::Ok => "ok",
        }
    }
}

/// A checked alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub metric: MetricName,
    /// Source ids the rule watches (empty: all).
    pub sources: Vec<SourceId>,
    pub matchers: Vec<LabelMatcher>,
    pub reduce: Reduce,
    pub window: Duration,
    pub condition: Condition,
    pub threshold: f64,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub severity: Severity,
    pub enabled: bool,
    /// Added to every alert of the rule (for routing and grouping).
    pub labels: LabelSet,
    /// `summary`, `runbook_url`, … shown with the alert and sent with notifications.
    pub annotations: BTreeMap<String, String>,
    pub no_data: NoData,
}

/// The longest `for`, `keep_firing_for` and window a rule may have.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 86400);

impl Rule {
    /// The state machine's timing of this rule.
    pub fn timing(&self) -> Timing {
        Timing {
            for_: self.for_,
            keep_firing_for: self.keep_firing_for,
            ..Timing::default()
        }
    }

    /// Checks every field of `draft`, naming every bad one at once.
    pub fn parse(draft: &RuleDraft) -> Result<Rule, AppError> {
        let mut problems = Problems::new();
        let name = draft.name.trim().to_string();
        if name.is_empty() {
            problems.add("name", "give the rule a name, e.g. Slow search");
        } else if name.chars().count() > 200 {
            problems.add("name", "at most 200 characters");
        }
        let metric = match draft.metric.trim() {
            "" => {
                problems.add(
                    "metric",
                    "name the metric the rule watches, e.g. response_time_ms",
                );
                None
            }
            text => MetricName::parse(text)
                .map_err(|_| {
                    problems.add(
                        "metric",
                        format!("`{text}` is not a metric name (letters, digits, _ and :, not starting with a digit)"),
                    )
                })
                .ok(),
        };
        let condition = Condition::parse(&draft.condition);
        if condition.is_none() {
            problems.add(
                "condition",
                format!(
                    "`{}`: expected one of > < == != >= <=",
                    draft.condition.trim()
                ),
            );
        }
        let threshold = match draft.threshold.trim() {
            "" => {
                problems.add(
                    "threshold",
                    "give the value the condition compares with, e.g. 500",
                );
                None
            }
            text => match text.parse::<f64>() {
                Ok(t) if t.is_finite() => Some(t),
                Ok(_) => {
                    problems.add("threshold", "must be a finite number");
                    None
                }
                Err(_) => {
                    problems.add("threshold", format!("`{text}` is not a number"));
                    None
                }
            },
        };
        let duration = |field: &str, text: &str| -> Result<Duration, AppError> {
            let text = text.trim();
            if text.is_empty() || text == "0" {
                return Ok(Duration::ZERO);
            }
            if text.starts_with('-') {
                return Err(AppError::invalid(field, "must not be negative"));
            }
            let d = humantime::parse_duration(text).map_err(|_| {
                AppError::invalid(
                    field,
                    format!("`{text}` is not a duration (e.g. 30s, 5m, 1h)"),
                )
            })?;
            if d > MAX_DURATION {
                return Err(AppError::invalid(field, "must be at most 7 days"));
            }
            Ok(d)
        };
        let for_ = problems.take(duration("for", &draft.for_));
        let keep_firing_for = problems.take(duration("keep_firing_for", &draft.keep_firing_for));
        let reduce = Reduce::parse(&draft.reduce);
        if reduce.is_none() {
            problems.add(
                "reduce",
                format!(
                    "`{}`: expected last, avg, min, max, sum or count",
                    draft.reduce.trim()
                ),
            );
        }
        let window = problems.take(duration("window", &draft.window)).map(|d| {
            if d.is_zero() {
                Duration::from_secs(300)
            } else {
                d
            }
        });
        let severity = Severity::parse(&draft.severity);
        if severity.is_none() {
            problems.add(
                "severity",
                format!(
                    "`{}`: expected info, warning, error or critical",
                    draft.severity.trim()
                ),
            );
        }
        let no_data = NoData::parse(&draft.no_data);
        if no_data.is_none() {
            problems.add(
                "no_data",
                format!("`{}`: expected keep, alerting or ok", draft.no_data.trim()),
            );
        }
        let sources: Option<Vec<SourceId>> = draft
            .sources
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(SourceId::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| problems.add("sources", e.to_string()))
            .ok();
        let matchers = problems.take(LabelMatcher::parse_list(&draft.matchers));
        let labels = LabelSet::parse(draft.labels.clone())
            .map_err(|e| problems.add("labels", e.to_string()))
            .ok();
        if let Some(key) = draft.annotations.keys().find(|k| !is_label_name(k)) {
            problems.add(
                "annotations",
                format!("`{key}` is not a valid annotation name"),
            );
        }
        problems.finish()?;
        let (
            Some(metric),
            Some(sources),
            Some(labels),
            Some(condition),
            Some(threshold),
            Some(for_),
            Some(keep_firing_for),
            Some(reduce),
            Some(window),
            Some(severity),
            Some(no_data),
            Some(matchers),
        ) = (
            metric,
            sources,
            labels,
            condition,
            threshold,
            for_,
            keep_firing_for,
            reduce,
            window,
            severity,
            no_data,
            matchers,
        )
        else {
            unreachable!("every missing value was recorded as a problem");
        };
        Ok(Rule {
            name,
            description: draft.description.trim().to_string(),
            metric,
            sources,
            matchers,
            reduce,
            window,
            condition,
            threshold,
            for_,
            keep_firing_for,
            severity,
            enabled: draft.enabled,
            labels,
            annotations: draft.annotations.clone(),
            no_data,
        })
    }

    /// The rule as a draft again (what forms and the API show).
    pub fn to_draft(&self) -> RuleDraft {
        let text = |d: Duration| {
            if d.is_zero() {
                "0".to_string()
            } else {
                humantime::format_duration(d).to_string()
            }
        };
        RuleDraft {
            name: self.name.clone(),
            description: self.description.clone(),
            metric: self.metric.to_string(),
            sources: self.sources.iter().map(ToString::to_string).collect(),
            matchers: self.matchers.iter().map(ToString::to_string).collect(),
            reduce: self.reduce.as_str().to_string(),
            window: text(self.window),
            condition: self.condition.as_str().to_string(),
            threshold: self.threshold.to_string(),
            for_: text(self.for_),
            keep_firing_for: text(self.keep_firing_for),
            severity: self.severity.as_str().to_string(),
            enabled: self.enabled,
            labels: self.labels.clone().into_inner(),
            annotations: self.annotations.clone(),
            no_data: self.no_data.as_str().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> RuleDraft {
        RuleDraft {
            name: "Slow tools".into(),
            metric: "response_time_ms".into(),
            condition: ">".into(),
            threshold: "250".into(),
            for_: "5m".into(),
            severity: "warning".into(),
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_draft_parses_and_round_trips() {
        let mut d = draft();
        d.matchers = vec!["tool=~search.*".into()];
        d.reduce = "avg".into();
        d.window = "2m".into();
        d.annotations
            .insert("runbook_url".into(), "https://runbooks/slow".into());
        let rule = Rule::parse(&d).unwrap();
        assert_eq!(rule.condition, Condition::Gt);
        assert_eq!(rule.for_, Duration::from_secs(300));
        assert_eq!(rule.window, Duration::from_secs(120));
        assert_eq!(Rule::parse(&rule.to_draft()).unwrap(), rule);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: Vec<(fn(&mut RuleDraft), &str)> = vec![
            (|d| d.name = " ".into(), "name"),
            (|d| d.metric = "bad metric".into(), "metric"),
            (|d| d.condition = "=>".into(), "condition"),
            (|d| d.threshold = "abc".into(), "threshold"),
            (|d| d.threshold = "NaN".into(), "threshold"),
            (|d| d.threshold = "inf".into(), "threshold"),
            (|d| d.for_ = "-5m".into(), "for"),
            (|d| d.for_ = "soon".into(), "for"),
            (|d| d.for_ = "30d".into(), "for"),
            (|d| d.keep_firing_for = "-1s".into(), "keep_firing_for"),
            (|d| d.severity = "urgent".into(), "severity"),
            (|d| d.reduce = "median".into(), "reduce"),
            (|d| d.sources = vec!["no spaces".into()], "sources"),
            (|d| d.matchers = vec!["zone".into()], "matchers"),
            (
                |d| {
                    d.labels.insert("__reserved".into(), "x".into());
                },
                "labels",
            ),
            (
                |d| {
                    d.annotations.insert("bad key".into(), "x".into());
                },
                "annotations",
            ),
        ];
        for (change, field) in cases {
            let mut d = draft();
            change(&mut d);
            match Rule::parse(&d) {
                Err(AppError::Invalid { field: f, .. }) => assert_eq!(f, field, "{d:?}"),
                other => panic!("{d:?}: expected an error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_rule_names_every_missing_field_at_once() {
        let err = Rule::parse(&RuleDraft {
            for_: "soon".into(),
            condition: String::new(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<String> = err.problems().into_iter().map(|p| p.field).collect();
        for field in ["name", "metric", "condition", "threshold", "for"] {
            assert!(
                fields.iter().any(|f| f == field),
                "{field} missing in {fields:?}"
            );
        }
        assert!(err.to_string().contains("threshold:"), "{err}");
    }

    #[test]
    fn conditions_compare_as_written() {
        let table = [
            (">", 2.0, true),
            (">", 1.0, false),
            ("<", 0.5, true),
            ("==", 1.0, true),
            ("!=", 1.0, false),
            (">=", 1.0, true),
            ("<=", 1.5, false),
        ];
        for (op, value, want) in table {
            assert_eq!(
                Condition::parse(op).unwrap().holds(value, 1.0),
                want,
                "{value} {op} 1"
            );
        }
        assert!(!Condition::Gt.holds(f64::NAN, 1.0), "NaN never holds");
    }
}
