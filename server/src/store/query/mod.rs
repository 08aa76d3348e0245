//! Queries over stored samples: one metric, optionally narrowed to sources and label matchers, over
//! `[start, end)` in buckets of `step`, reduced with an [`Aggregation`], either into one series, one per stored
//! series, or one per value of chosen labels. A query never returns more than `max_points` buckets per series:
//! the step grows to fit (the UI asks for about two points per pixel column).
//!
//! Input arrives as a [`QueryRequest`] (strings, from REST or a server function) and is parsed into a [`Query`]
//! that cannot be invalid; output is a [`QueryResult`].

mod histogram;
mod rate;
mod raw;

use crate::names::{LabelName, MetricName, SourceId};
use crate::store::rollup::Tier;
use crate::store::Store;
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
    /// Per second, of counters (Prometheus' `rate`), summed over each group's series.
    Rate,
    /// Per bucket, of counters: the rate times the step (Prometheus' `increase` when the window is the step).
    Increase,
    /// A percentile of a histogram family's `_bucket` series (`p50`, `p90`, `p95`, `p99`, `p999`), as
    /// `histogram_quantile(φ, sum by (le) (rate(x_bucket[w])))`.
    Quantile(Percentile),
}

/// The percentiles offered for histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P90,
    P95,
    P99,
    P999,
}

impl Percentile {
    pub fn phi(self) -> f64 {
        match self {
            Percentile::P50 => 0.5,
            Percentile::P90 => 0.9,
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
            Percentile::P999 => 0.999,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
            Percentile::P999 => "p999",
        }
    }
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
            "rate" => Aggregation::Rate,
            "increase" => Aggregation::Increase,
            "p50" => Aggregation::Quantile(Percentile::P50),
            "p90" => Aggregation::Quantile(Percentile::P90),
            "p95" => Aggregation::Quantile(Percentile::P95),
            "p99" => Aggregation::Quantile(Percentile::P99),
            "p999" => Aggregation::Quantile(Percentile::P999),
            other => {
                return Err(format!(
                    "unknown aggregation `{other}` (expected sum, avg, min, max, count, last; rate or increase for \
                     counters; p50, p90, p95, p99 or p999 for histograms)"
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
            Aggregation::Rate => "rate",
            Aggregation::Increase => "increase",
            Aggregation::Quantile(p) => p.name(),
        })
    }
}

impl Aggregation {
    /// Whether this reads counters (per series, with resets) rather than reducing values.
    pub fn of_counters(self) -> bool {
        matches!(
            self,
            Aggregation::Rate | Aggregation::Increase | Aggregation::Quantile(_)
        )
    }

    /// The aggregate over rollup rows `r` (each a bucket of samples).
    fn rollup_sql(self) -> &'static str {
        match self {
            Aggregation::Rate | Aggregation::Increase | Aggregation::Quantile(_) => {
                unreachable!("counters are read by store::query::rate")
            }
            Aggregation::Sum => "sum(r.sum)",
            Aggregation::Avg => "sum(r.sum) / sum(r.count)",
            Aggregation::Min => "min(r.min)",
            Aggregation::Max => "max(r.max)",
            Aggregation::Count => "sum(r.count)::float8",
            Aggregation::Last => "(array_agg(r.last ORDER BY r.last_ts DESC, r.series_id DESC))[1]",
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
    pub name: LabelName,
    pub op: MatchOp,
    pub value: String,
}

impl LabelMatcher {
    /// A form's or request's matcher list (blank entries skipped), or an `Invalid` error on field `matchers` naming
    /// the first that does not parse.
    pub fn parse_list(list: &[String]) -> Result<Vec<LabelMatcher>, AppError> {
        list.iter()
            .filter(|m| !m.trim().is_empty())
            .map(|m| m.parse().map_err(|e| AppError::invalid("matchers", e)))
            .collect()
    }

    /// Whether `labels` satisfy the matcher (a missing label is the empty string; regexes are anchored).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels
            .get(self.name.as_str())
            .map(String::as_str)
            .unwrap_or("");
        let regex = || regex::Regex::new(&format!("^(?:{})$", self.value));
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => regex().is_ok_and(|r| r.is_match(value)),
            MatchOp::NotRe => regex().is_ok_and(|r| !r.is_match(value)),
        }
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        };
        write!(f, "{}{op}{}", self.name, self.value)
    }
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
        let name = LabelName::parse(s[..pos].trim()).map_err(|e| e.to_string())?;
        let value = s[pos + len..].trim().trim_matches('"').to_string();
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
    By(Vec<LabelName>),
}

/// A query that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub metric: MetricName,
    pub sources: Vec<SourceId>,
    pub matchers: Vec<LabelMatcher>,
    /// Aligned down to a multiple of `step` (buckets start at multiples of `step` since the Unix epoch).
    pub start: DateTime<Utc>,
    /// Aligned up to a multiple of `step`.
    pub end: DateTime<Utc>,
    /// The step actually used: the requested one, or a round one large enough for `max_points`.
    pub step: Duration,
    pub aggregation: Aggregation,
    /// The window of `rate`/`increase` (`None`: chosen from each series' sample spacing).
    pub window: Option<Duration>,
    pub grouping: Grouping,
    /// The rollup tier read where it is complete (raw samples elsewhere).
    pub tier: Tier,
    /// The earlier of `end` and the query's `now`: a rate's last window ends here, not in the future.
    pub until: DateTime<Utc>,
}

/// Round bucket widths, in seconds, that fitted steps snap to.
const NICE_STEPS: &[u64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800,
];

/// The smallest round step of at least `min`.
fn nice_step(min: Duration) -> Duration {
    let secs = min.as_secs() + u64::from(min.subsec_nanos() > 0);
    NICE_STEPS
        .iter()
        .find(|s| **s >= secs)
        .map(|s| Duration::from_secs(*s))
        .unwrap_or_else(|| Duration::from_secs(secs.div_ceil(604800) * 604800))
}

fn align_down(t: DateTime<Utc>, step: Duration) -> DateTime<Utc> {
    let step = step.as_millis().max(1) as i64;
    let ms = t.timestamp_millis().div_euclid(step) * step;
    Utc.timestamp_millis_opt(ms).single().unwrap_or(t)
}

fn align_up(t: DateTime<Utc>, step: Duration) -> DateTime<Utc> {
    let down = align_down(t, step);
    if down == t {
        t
    } else {
        down + chrono::Duration::milliseconds(step.as_millis() as i64)
    }
}

/// Buckets of `step` that `[start, end)` touches.
fn buckets(start: DateTime<Utc>, end: DateTime<Utc>, step: Duration) -> u64 {
    let span = align_up(end, step) - align_down(start, step);
    (span.num_milliseconds().max(0) as u64).div_ceil(step.as_millis().max(1) as u64)
}

impl Query {
    /// Parses a request, reporting the first bad field by name. `now` fills in defaults (the last hour).
    pub fn parse(req: &QueryRequest, now: DateTime<Utc>) -> Result<Query, AppError> {
        let metric = MetricName::parse(req.metric.trim())
            .map_err(|e| AppError::invalid("metric", e.to_string()))?;
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
        let fitted = span.div_f64(max_points as f64);
        let requested = match req.step.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_step(s).map_err(|e| AppError::invalid("step", e))?,
            None => Duration::ZERO,
        };
        let mut step = if requested >= fitted && requested >= Duration::from_secs(1) {
            Duration::from_millis(requested.as_millis() as u64)
        } else {
            nice_step(fitted.max(requested))
        };
        // Alignment may add a partial bucket at each end: grow until the count fits.
        while buckets(start, end, step) > max_points as u64 {
            step = nice_step(step + Duration::from_millis(1));
        }
        let aggregation = match req.aggregation.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => s
                .parse()
                .map_err(|e: String| AppError::invalid("aggregation", e))?,
            None => Aggregation::Avg,
        };
        let tier = match req.resolution.as_deref().map(str::trim) {
            // A counter's rate needs several samples per bucket: a tier only where a bucket holds five of its rows.
            None | Some("") | Some("auto") if aggregation.of_counters() => Tier::for_step(step / 5),
            None | Some("") | Some("auto") => Tier::for_step(step),
            Some("raw") => Tier::Raw,
            Some(other) => {
                return Err(AppError::invalid(
                    "resolution",
                    format!("`{other}`: expected auto or raw"),
                ))
            }
        };
        let (start, end) = (align_down(start, step), align_up(end, step));
        // A percentile reads the family's `_bucket` series, whichever of its names was given.
        let metric = match aggregation {
            Aggregation::Quantile(_) if !metric.ends_with("_bucket") => {
                let family = metric
                    .strip_suffix("_count")
                    .or_else(|| metric.strip_suffix("_sum"))
                    .unwrap_or(&metric);
                MetricName::parse(&format!("{family}_bucket"))
                    .map_err(|e| AppError::invalid("metric", e.to_string()))?
            }
            _ => metric,
        };
        let window = match req.window.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let w = parse_step(s).map_err(|e| AppError::invalid("window", e))?;
                if w < Duration::from_secs(1) || w > Duration::from_secs(31 * 86400) {
                    return Err(AppError::invalid("window", "must be between 1s and 31d"));
                }
                Some(w.max(step))
            }
            None => None,
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
                let names = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|n| {
                        LabelName::parse(n).map_err(|_| {
                            AppError::invalid("group_by", format!("`{n}` is not a label name"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Grouping::By(names)
            }
        };
        let sources = req
            .sources
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| SourceId::parse(s).map_err(|e| AppError::invalid("sources", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Query {
            metric,
            sources,
            matchers,
            start,
            end,
            step,
            aggregation,
            window,
            grouping,
            tier,
            until: end.min(now.max(start)),
        })
    }
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

impl Query {
    /// How many buckets of `step` lie in `[start, end)`.
    pub fn buckets(&self) -> usize {
        ((self.end - self.start).num_milliseconds() / (self.step.as_millis() as i64).max(1)).max(0)
            as usize
    }
}

/// Runs a parsed query: finds the matching series and their groups, then aggregates raw samples before the rollup
/// tier's rows begin ([`tier_rows_from`]), the tier's rows up to its watermark, and raw samples after it.
pub async fn run(store: &Store, q: &Query) -> anyhow::Result<QueryResult> {
    if let Aggregation::Quantile(p) = q.aggregation {
        return histogram::run(store, q, p.phi()).await;
    }
    let pool = store.pool();
    let (ids, groups, keys) = matching_series(pool, q).await?;
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); keys.len()];
    let mut resolution = Tier::Raw;
    if q.aggregation.of_counters() {
        // Counters read their own samples (per series, in time order); nothing to do without series.
        if !ids.is_empty() {
            (points, resolution) = rate::run(store, q, &ids, &groups, keys.len()).await?;
        }
    } else if !ids.is_empty() {
        // Raw samples (chunks and rows alike, bucketed in Rust) before the tier's rows and after them.
        let (tier_from, tier_to) = match q.tier {
            Tier::Raw => (q.start, q.start),
            tier => {
                let from =
                    align_up(tier_rows_from(store, tier).await?, q.step).clamp(q.start, q.end);
                let to = match store.rollup_watermark().await? {
                    Some(pending) => align_down(pending, q.step).clamp(from, q.end),
                    None => q.end,
                };
                (from, to)
            }
        };
        if tier_from > q.start {
            raw::aggregate(pool, q, &ids, &groups, q.start, tier_from, &mut points).await?;
        }
        if tier_to > tier_from {
            resolution = q.tier;
            aggregate(
                pool,
                q,
                q.tier,
                &ids,
                &groups,
                tier_from,
                tier_to,
                &mut points,
            )
            .await?;
        }
        if tier_to < q.end {
            raw::aggregate(pool, q, &ids, &groups, tier_to, q.end, &mut points).await?;
        }
    }
    let series = keys
        .into_iter()
        .zip(points)
        .filter(|(_, points)| !points.is_empty())
        .map(|((source, labels), points)| SeriesData {
            source,
            labels,
            points,
        })
        .collect();
    Ok(QueryResult {
        metric: q.metric.to_string(),
        aggregation: q.aggregation.to_string(),
        start: q.start,
        end: q.end,
        step_ms: q.step.as_millis() as i64,
        resolution: resolution.name().to_string(),
        series,
    })
}

/// Where `tier`'s rows begin to answer for every series: the minute rows of compacted hours are dropped (unless
/// they outlive the samples), so before the compaction watermark minute steps read the chunks. Hour rows are kept
/// for every hour.
async fn tier_rows_from(store: &Store, tier: Tier) -> anyhow::Result<DateTime<Utc>> {
    let everything = DateTime::<Utc>::MIN_UTC;
    if tier != Tier::Minute || store.minutes_outlive_samples() {
        return Ok(everything);
    }
    Ok(store.compaction_watermark().await?.unwrap_or(everything))
}

/// A result series' identity: its source (when grouped by source or per series) and labels.
pub(super) type GroupKey = (Option<String>, BTreeMap<String, String>);

/// The ids of the series the query selects, each one's group index, and the groups in output order.
pub(super) async fn matching_series(
    pool: &PgPool,
    q: &Query,
) -> anyhow::Result<(Vec<i64>, Vec<i32>, Vec<GroupKey>)> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT s.id, s.source, s.labels::text FROM series s WHERE ");
    push_series_filter(&mut sql, &q.metric, &q.sources, &q.matchers);
    let rows: Vec<(i64, String, String)> = sql.build_query_as().fetch_all(pool).await?;
    let mut by_key: BTreeMap<GroupKey, Vec<i64>> = BTreeMap::new();
    for (id, source, labels) in rows {
        let labels: BTreeMap<String, String> = serde_json::from_str(&labels).unwrap_or_default();
        let key = match &q.grouping {
            Grouping::All => (None, BTreeMap::new()),
            Grouping::PerSeries => (Some(source), labels),
            Grouping::By(names) => (
                names.iter().any(|n| n == "source").then_some(source),
                names
                    .iter()
                    .filter_map(|n| labels.get(n.as_str()).map(|v| (n.to_string(), v.clone())))
                    .collect(),
            ),
        };
        by_key.entry(key).or_default().push(id);
    }
    let mut ids = Vec::new();
    let mut groups = Vec::new();
    let mut keys = Vec::with_capacity(by_key.len());
    for (index, (key, members)) in by_key.into_iter().enumerate() {
        groups.extend(std::iter::repeat_n(index as i32, members.len()));
        ids.extend(members);
        keys.push(key);
    }
    Ok((ids, groups, keys))
}

/// Appends the conditions selecting series `s` of `metric`, narrowed to `sources` (if any) and `matchers`.
pub(crate) fn push_series_filter(
    sql: &mut QueryBuilder<'_, Postgres>,
    metric: &MetricName,
    sources: &[SourceId],
    matchers: &[LabelMatcher],
) {
    sql.push("s.metric = ").push_bind(metric.to_string());
    if !sources.is_empty() {
        sql.push(" AND s.source = ANY(")
            .push_bind(sources.iter().map(ToString::to_string).collect::<Vec<_>>())
            .push(")");
    }
    for m in matchers {
        sql.push(" AND coalesce(s.labels->>")
            .push_bind(m.name.to_string())
            .push(", '')");
        match m.op {
            MatchOp::Eq => sql.push(" = ").push_bind(m.value.clone()),
            MatchOp::Ne => sql.push(" <> ").push_bind(m.value.clone()),
            MatchOp::Re => sql.push(" ~ ").push_bind(format!("^(?:{})$", m.value)),
            MatchOp::NotRe => sql.push(" !~ ").push_bind(format!("^(?:{})$", m.value)),
        };
    }
}

/// Aggregates `[from, to)` from rollup `tier` into buckets, appending to each group's points (callers go forward in time).
#[allow(clippy::too_many_arguments)]
async fn aggregate(
    pool: &PgPool,
    q: &Query,
    tier: Tier,
    ids: &[i64],
    groups: &[i32],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: &mut [Vec<Point>],
) -> anyhow::Result<()> {
    let table = match tier {
        Tier::Raw => unreachable!("raw samples are bucketed by store::query::raw"),
        Tier::Minute => "rollup_1m",
        Tier::Hour => "rollup_1h",
    };
    let aggregate = q.aggregation.rollup_sql();
    let sql = format!(
        "SELECT g.grp, date_bin(make_interval(secs => $1), r.bucket, 'epoch'::timestamptz) AS bucket, {aggregate}
         FROM {table} r JOIN UNNEST($2::bigint[], $3::int[]) AS g(id, grp) ON g.id = r.series_id
         WHERE r.bucket >= $4 AND r.bucket < $5 GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let rows: Vec<(i32, DateTime<Utc>, Option<f64>)> = sqlx::query_as(&sql)
        .bind(q.step.as_secs_f64())
        .bind(ids)
        .bind(groups)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    for (group, bucket, value) in rows {
        if let (Some(value), Some(points)) = (value, points.get_mut(group as usize)) {
            points.push(Point {
                t: bucket.timestamp_millis(),
                v: value,
            });
        }
    }
    Ok(())
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
                (
                    crate::names::is_metric_name(name),
                    crate::names::is_label_name(name)
                ),
                (metric, label),
                "{name:?}"
            );
        }
    }
}
