//! Latency percentiles from Prometheus histograms: `p50`, `p90`, `p95`, `p99`, `p999` of a histogram family
//! (`x_bucket` series with an `le` label, such as the probe's `mcp_client_operation_duration_bucket`), computed as
//! Prometheus' `histogram_quantile(φ, sum by (le, …) (rate(x_bucket[w])))` is.
//!
//! Data enters as each bucket series' per-bucket rate (from [`super::rate`], so counter resets and extrapolation
//! follow Prometheus); the rates of one result group are summed per `le` and the quantile is interpolated linearly
//! within the bucket that holds the rank. Data leaves as one point per time bucket and group (no point where the
//! histogram saw nothing). Groups are formed as for other queries, without the `le` label.

use super::query::{push_series_filter, Grouping, Query};
use super::rate;
use super::Store;
use app::types::{Point, QueryResult, SeriesData};
use std::collections::BTreeMap;

/// A result series' identity: its source (when grouped by source or per series) and labels.
type GroupKey = (Option<String>, BTreeMap<String, String>);

/// Prometheus' `bucketQuantile`: the `q` quantile of cumulative `buckets` (upper bound, count). `NaN` without a
/// `+Inf` bucket or observations; the lower bound of the first bucket is 0 unless its upper bound is not positive.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Same upper bound twice (two series of one bucket): one bucket of their sum.
    buckets.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 += later.1;
        }
        same
    });
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) || buckets.len() < 2 {
        return f64::NAN;
    }
    // Cumulative counts never decrease (rates of separately scraped buckets may, slightly).
    let mut highest = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        highest = highest.max(b.1);
        b.1 = highest;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations <= 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|b| b.1 < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Runs a percentile query: `q.metric` names the family's `_bucket` series.
pub(super) async fn run(store: &Store, q: &Query, phi: f64) -> anyhow::Result<QueryResult> {
    let pool = store.pool();
    let mut sql: sqlx::QueryBuilder<sqlx::Postgres> =
        sqlx::QueryBuilder::new("SELECT s.id, s.source, s.labels::text FROM series s WHERE ");
    push_series_filter(&mut sql, &q.metric, &q.sources, &q.matchers);
    let rows: Vec<(i64, String, String)> = sql.build_query_as().fetch_all(pool).await?;
    // Each bucket series: its group and upper bound.
    let mut groups: BTreeMap<GroupKey, usize> = BTreeMap::new();
    let mut member: BTreeMap<i64, (usize, f64)> = BTreeMap::new();
    for (id, source, labels) in rows {
        let mut labels: BTreeMap<String, String> =
            serde_json::from_str(&labels).unwrap_or_default();
        let Some(le) = labels.remove("le").and_then(|le| parse_le(&le)) else {
            continue;
        };
        let key = match &q.grouping {
            Grouping::All => (None, BTreeMap::new()),
            Grouping::PerSeries => (Some(source), labels),
            Grouping::By(names) => (
                names.iter().any(|n| n == "source").then_some(source),
                names
                    .iter()
                    .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                    .collect(),
            ),
        };
        let next = groups.len();
        let group = *groups.entry(key).or_insert(next);
        member.insert(id, (group, le));
    }
    let ids: Vec<i64> = member.keys().copied().collect();
    let buckets = q.buckets();
    // Per group and time bucket: (upper bound, rate) of each bucket series.
    let mut histograms: Vec<Vec<Vec<(f64, f64)>>> = vec![vec![Vec::new(); buckets]; groups.len()];
    let resolution = rate::each_series(pool, q, &ids, |id, rates| {
        let Some((group, le)) = member.get(&id) else {
            return;
        };
        for (k, r) in rates.into_iter().enumerate() {
            if let (Some(r), Some(h)) = (r, histograms[*group].get_mut(k)) {
                h.push((*le, r));
            }
        }
    })
    .await?;
    let start = q.start.timestamp_millis();
    let step = q.step.as_millis() as i64;
    let mut keys: Vec<(GroupKey, usize)> = groups.into_iter().collect();
    keys.sort_by_key(|(_, g)| *g);
    let series = keys
        .into_iter()
        .map(|((source, labels), g)| SeriesData {
            source,
            labels,
            points: std::mem::take(&mut histograms[g])
                .into_iter()
                .enumerate()
                .filter_map(|(k, mut h)| {
                    let v = bucket_quantile(phi, &mut h);
                    v.is_finite().then_some(Point {
                        t: start + k as i64 * step,
                        v,
                    })
                })
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    Ok(QueryResult {
        metric: q.metric.clone(),
        aggregation: q.aggregation.to_string(),
        start: q.start,
        end: q.end,
        step_ms: step,
        resolution: resolution.name().to_string(),
        series,
    })
}

/// An `le` label's upper bound (`+Inf` included).
fn parse_le(le: &str) -> Option<f64> {
    match le.trim() {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        text => text.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_the_bucket_of_the_rank() {
        // 100 observations: 50 ≤ 0.1, 90 ≤ 0.5, 100 ≤ 1.
        let h = vec![
            (0.1, 50.0),
            (0.5, 90.0),
            (1.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        let at = |q: f64| bucket_quantile(q, &mut h.clone());
        assert!((at(0.5) - 0.1).abs() < 1e-12);
        assert!((at(0.7) - 0.3).abs() < 1e-12, "{}", at(0.7));
        assert!((at(0.95) - 0.75).abs() < 1e-12, "{}", at(0.95));
        assert!(at(0.25) > 0.0 && at(0.25) < 0.1);
        // Beyond the last finite bound: that bound.
        let tail = vec![(1.0, 10.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.99, &mut tail.clone()), 1.0);
        // No +Inf bucket, or nothing observed: no answer.
        assert!(bucket_quantile(0.5, &mut vec![(1.0, 10.0)]).is_nan());
        assert!(bucket_quantile(0.5, &mut vec![(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        assert_eq!(parse_le("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_le("0.25"), Some(0.25));
    }
}
