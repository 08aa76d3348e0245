//! Queries over stored samples: one metric, optionally narrowed to sources and label matchers, over
//! `[start, end)` in buckets of `step`, reduced with an [`Aggregation`], either into one series, one per stored
//! series, or one per value of chosen labels. A query never returns more than `max_points` buckets per series:
//! the step grows to fit (the UI asks for about two points per pixel column).
//!
//! Input arrives as a [`QueryRequest`] (strings, from REST or a server function) and is parsed into a [`Query`]
//! that cannot be invalid; output is a [`QueryResult`].

use app::error::AppError;
use app::types::{Point, QueryRequest, QueryResult, SeriesData};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Buckets per series when the caller names no limit.
pub const DEFAULT_MAX_POINTS: usize = 2_000;
/// The most buckets per series any caller may ask for.
pub const MAX_POINTS_LIMIT: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Last,
}

impl FromStr for Aggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "sum" => Aggregation::Sum,
            "avg" | "mean" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "count" => Aggregation::Count,
            "last" => Aggregation::Last,
            other => {
                return Err(format!(
                    "unknown aggregation `{other}` (expected sum, avg, min, max, count or last)"
                ))
            }
        })
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aggregation::Sum => "sum",
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Count => "count",
            Aggregation::Last => "last",
        })
    }
}

impl Aggregation {
    fn sql(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum(x.value)",
            Aggregation::Avg => "avg(x.value)",
            Aggregation::Min => "min(x.value)",
            Aggregation::Max => "max(x.value)",
            Aggregation::Count => "count(*)::float8",
            Aggregation::Last => "(array_agg(x.value ORDER BY x.ts DESC, x.series_id DESC))[1]",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

/// `name=value`, `name!=value`, `name=~regex`, `name!~regex`. A missing label matches as the empty string, as in
/// Prometheus; regexes are anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

impl FromStr for LabelMatcher {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (pos, op, len) = ["!~", "=~", "!=", "="]
            .iter()
            .filter_map(|tok| s.find(tok).map(|p| (p, *tok)))
            .min_by_key(|(p, tok)| (*p, std::cmp::Reverse(tok.len())))
            .map(|(p, tok)| {
                let op = match tok {
                    "=" => MatchOp::Eq,
                    "!=" => MatchOp::Ne,
                    "=~" => MatchOp::Re,
                    _ => MatchOp::NotRe,
                };
                (p, op, tok.len())
            })
            .ok_or_else(|| format!("`{s}` is not a label matcher (name=value, name!=value, name=~regex, name!~regex)"))?;
        let name = s[..pos].trim().to_string();
        let value = s[pos + len..].trim().trim_matches('"').to_string();
        if !is_label_name(&name) {
            return Err(format!("`{name}` is not a valid label name"));
        }
        if matches!(op, MatchOp::Re | MatchOp::NotRe) {
            regex::Regex::new(&value).map_err(|e| format!("invalid regex for `{name}`: {e}"))?;
        }
        Ok(LabelMatcher { name, op, value })
    }
}

/// How series are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Everything matching into one series.
    All,
    /// One result per stored series.
    PerSeries,
    /// One result per distinct value of these labels (`source` names the source).
    By(Vec<String>),
}

/// A query that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub metric: String,
    pub sources: Vec<String>,
    pub matchers: Vec<LabelMatcher>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The step actually used (at least the requested one, large enough for `max_points`).
    pub step: Duration,
    pub aggregation: Aggregation,
    pub grouping: Grouping,
}

impl Query {
    /// Parses a request, reporting the first bad field by name. `now` fills in defaults (the last hour).
    pub fn parse(req: &QueryRequest, now: DateTime<Utc>) -> Result<Query, AppError> {
        let metric = req.metric.trim().to_string();
        if !is_metric_name(&metric) {
            return Err(AppError::invalid(
                "metric",
                format!("`{metric}` is not a valid metric name"),
            ));
        }
        let end = match req.end.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_time(s, now).map_err(|e| AppError::invalid("end", e))?,
            None => now,
        };
        let start = match req.start.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_time(s, now).map_err(|e| AppError::invalid("start", e))?,
            None => end - chrono::Duration::hours(1),
        };
        if start >= end {
            return Err(AppError::invalid("start", "must be before end"));
        }
        let max_points = req.max_points.unwrap_or(DEFAULT_MAX_POINTS);
        if !(1..=MAX_POINTS_LIMIT).contains(&max_points) {
            return Err(AppError::invalid(
                "max_points",
                format!("must be between 1 and {MAX_POINTS_LIMIT}"),
            ));
        }
        let span = (end - start).to_std().unwrap_or_default();
        let fitted =
            Duration::from_millis((span.as_millis() as u64).div_ceil(max_points as u64).max(1));
        let requested = match req.step.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_step(s).map_err(|e| AppError::invalid("step", e))?,
            None => Duration::ZERO,
        };
        let step = requested.max(fitted).max(Duration::from_secs(1));
        let aggregation = match req.aggregation.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => s
                .parse()
                .map_err(|e: String| AppError::invalid("aggregation", e))?,
            None => Aggregation::Avg,
        };
        let matchers = req
            .labels
            .iter()
            .map(|m| {
                m.parse::<LabelMatcher>()
                    .map_err(|e| AppError::invalid("labels", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let grouping = match req.group_by.as_deref().map(str::trim) {
            None | Some("") => Grouping::All,
            Some("series") => Grouping::PerSeries,
            Some(list) => {
                let names: Vec<String> = list
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(bad) = names.iter().find(|n| !is_label_name(n)) {
                    return Err(AppError::invalid(
                        "group_by",
                        format!("`{bad}` is not a label name"),
                    ));
                }
                Grouping::By(names)
            }
        };
        let sources = req
            .sources
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Query {
            metric,
            sources,
            matchers,
            start,
            end,
            step,
            aggregation,
            grouping,
        })
    }
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

/// RFC 3339, Unix seconds (or milliseconds when > 1e11), or relative to now (`-1h`, `now`).
fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Some(rel) = s.strip_prefix('-').or_else(|| s.strip_prefix("now-")) {
        let d = humantime::parse_duration(rel).map_err(|e| format!("`{s}`: {e}"))?;
        return Ok(now - chrono::Duration::from_std(d).map_err(|e| e.to_string())?);
    }
    if let Ok(n) = s.parse::<f64>() {
        if !n.is_finite() {
            return Err(format!("`{s}` is not a time"));
        }
        let ms = if n.abs() > 1e11 { n } else { n * 1000.0 };
        return Utc
            .timestamp_millis_opt(ms as i64)
            .single()
            .ok_or_else(|| format!("`{s}` is out of range"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not a time (RFC 3339, Unix seconds, or relative like -1h)"))
}

/// A duration like `5m`, or plain seconds.
fn parse_step(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 && secs < 1e9 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("`{s}` is not a positive number of seconds"));
    }
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))
}

/// Runs a parsed query.
pub async fn run(pool: &PgPool, q: &Query) -> anyhow::Result<QueryResult> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
    match &q.grouping {
        Grouping::All => sql.push("NULL::text AS g_source, '{}'::text AS g_labels, "),
        Grouping::PerSeries => sql.push("s.source AS g_source, s.labels::text AS g_labels, "),
        Grouping::By(names) => {
            if names.iter().any(|n| n == "source") {
                sql.push("s.source AS g_source, ");
            } else {
                sql.push("NULL::text AS g_source, ");
            }
            sql.push("jsonb_strip_nulls(jsonb_build_object(");
            let mut first = true;
            for name in names.iter().filter(|n| *n != "source") {
                if !first {
                    sql.push(", ");
                }
                first = false;
                sql.push_bind(name.clone())
                    .push("::text, s.labels->>")
                    .push_bind(name.clone())
                    .push("::text");
            }
            sql.push("))::text AS g_labels, ")
        }
    };
    sql.push("date_bin(make_interval(secs => ")
        .push_bind(q.step.as_secs_f64())
        .push("), x.ts, 'epoch'::timestamptz) AS bucket, ")
        .push(q.aggregation.sql())
        .push(" AS v FROM samples x JOIN series s ON s.id = x.series_id WHERE s.metric = ")
        .push_bind(q.metric.clone())
        .push(" AND x.ts >= ")
        .push_bind(q.start)
        .push(" AND x.ts < ")
        .push_bind(q.end);
    if !q.sources.is_empty() {
        sql.push(" AND s.source = ANY(")
            .push_bind(q.sources.clone())
            .push(")");
    }
    for m in &q.matchers {
        sql.push(" AND coalesce(s.labels->>")
            .push_bind(m.name.clone())
            .push(", '')");
        match m.op {
            MatchOp::Eq => sql.push(" = ").push_bind(m.value.clone()),
            MatchOp::Ne => sql.push(" <> ").push_bind(m.value.clone()),
            MatchOp::Re => sql.push(" ~ ").push_bind(format!("^(?:{})$", m.value)),
            MatchOp::NotRe => sql.push(" !~ ").push_bind(format!("^(?:{})$", m.value)),
        };
    }
    sql.push(" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
    let rows: Vec<(Option<String>, String, DateTime<Utc>, Option<f64>)> =
        sql.build_query_as().fetch_all(pool).await?;

    let mut series: Vec<SeriesData> = Vec::new();
    for (source, labels, bucket, value) in rows {
        let Some(value) = value else { continue };
        let point = Point {
            t: bucket.timestamp_millis(),
            v: value,
        };
        match series.last_mut() {
            Some(last) if last.source == source && last.labels_json == labels => {
                last.points.push(point)
            }
            _ => series.push(SeriesData {
                labels: serde_json::from_str::<BTreeMap<String, String>>(&labels)
                    .unwrap_or_default(),
                labels_json: labels,
                source,
                points: vec![point],
            }),
        }
    }
    Ok(QueryResult {
        metric: q.metric.clone(),
        aggregation: q.aggregation.to_string(),
        start: q.start,
        end: q.end,
        step_ms: q.step.as_millis() as i64,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(metric: &str) -> QueryRequest {
        QueryRequest {
            metric: metric.into(),
            ..Default::default()
        }
    }

    #[test]
    fn matchers_parse_with_the_longest_operator() {
        let cases = [
            ("team=backend", MatchOp::Eq, "backend"),
            ("team!=backend", MatchOp::Ne, "backend"),
            ("zone=~eu-.*", MatchOp::Re, "eu-.*"),
            ("zone!~us.*", MatchOp::NotRe, "us.*"),
            ("v=\"a=b\"", MatchOp::Eq, "a=b"),
        ];
        for (input, op, value) in cases {
            let m: LabelMatcher = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((m.op, m.value.as_str()), (op, value), "{input}");
        }
        for bad in ["team", "1abc=x", "zone=~(", "=x"] {
            assert!(
                bad.parse::<LabelMatcher>().is_err(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn the_step_grows_to_respect_max_points() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut r = req("requests_total");
        r.start = Some("-1h".into());
        r.max_points = Some(60);
        r.step = Some("10s".into());
        let q = Query::parse(&r, now).unwrap();
        assert_eq!(q.step, Duration::from_secs(60), "3600 s / 60 points");
        r.step = Some("5m".into());
        assert_eq!(
            Query::parse(&r, now).unwrap().step,
            Duration::from_secs(300),
            "a coarser request is kept"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let now = Utc::now();
        let cases: Vec<(QueryRequest, &str)> = vec![
            (req("bad metric"), "metric"),
            (
                QueryRequest {
                    start: Some("yesterday-ish".into()),
                    ..req("m")
                },
                "start",
            ),
            (
                QueryRequest {
                    start: Some("now".into()),
                    end: Some("-1h".into()),
                    ..req("m")
                },
                "start",
            ),
            (
                QueryRequest {
                    step: Some("-5".into()),
                    ..req("m")
                },
                "step",
            ),
            (
                QueryRequest {
                    aggregation: Some("median".into()),
                    ..req("m")
                },
                "aggregation",
            ),
            (
                QueryRequest {
                    labels: vec!["x".into()],
                    ..req("m")
                },
                "labels",
            ),
            (
                QueryRequest {
                    group_by: Some("a-b".into()),
                    ..req("m")
                },
                "group_by",
            ),
            (
                QueryRequest {
                    max_points: Some(0),
                    ..req("m")
                },
                "max_points",
            ),
        ];
        for (r, field) in cases {
            match Query::parse(&r, now) {
                Err(AppError::Invalid { field: f, .. }) => assert_eq!(f, field, "{r:?}"),
                other => panic!("{r:?}: expected an error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn names_follow_the_prometheus_grammar() {
        for (name, metric, label) in [
            ("up", true, true),
            ("a:b", true, false),
            ("_x1", true, true),
            ("1x", false, false),
            ("", false, false),
        ] {
            assert_eq!(
                (is_metric_name(name), is_label_name(name)),
                (metric, label),
                "{name:?}"
            );
        }
    }
}
