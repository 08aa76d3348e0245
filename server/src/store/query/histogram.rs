//! Latency percentiles from Prometheus histograms: `p50`, `p90`, `p95`, `p99`, `p999` of a histogram family
//! (`x_bucket` series with an `le` label, such as the probe's `mcp_client_operation_duration_bucket`), computed as
//! Prometheus' `histogram_quantile(φ, sum by (le, …) (rate(x_bucket[w])))` is.
//!
//! Data enters as the per-bucket rate of each result group's buckets, summed per `le` by the query engine
//! ([`super::rate`], so counter resets and extrapolation follow Prometheus); the quantile is interpolated linearly
//! within the bucket that holds the rank. Data leaves as one point per time bucket and group (no point where the
//! histogram saw nothing). Groups are formed as for other queries, without the `le` label.

use super::rate;
use super::{matching_series, GroupKey, Grouping, Query};
use crate::names::LabelName;
use crate::store::rollup::Tier;
use crate::store::Store;
use app::types::{Point, QueryResult, SeriesData};
use std::collections::BTreeMap;

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

/// Runs a percentile query: `q.metric` names the family's `_bucket` series. The query's groups are widened by
/// `le`, so the query engine's per-group rate sums are `sum by (le, …) (rate(…))`; each group's buckets then give
/// the quantile.
pub(super) async fn run(store: &Store, q: &Query, phi: f64) -> anyhow::Result<QueryResult> {
    let mut by_le = q.clone();
    by_le.grouping = match &q.grouping {
        Grouping::All => Grouping::By(vec![LabelName::literal("le")]),
        Grouping::PerSeries => Grouping::PerSeries,
        Grouping::By(names) => Grouping::By(
            names
                .iter()
                .cloned()
                .chain([LabelName::literal("le")])
                .collect(),
        ),
    };
    let (ids, groups, keys) = matching_series(store.pool(), &by_le).await?;
    let (points, resolution) = if ids.is_empty() {
        (Vec::new(), Tier::Raw)
    } else {
        rate::run(store, &by_le, &ids, &groups, keys.len()).await?
    };
    let start = q.start.timestamp_millis();
    let step = (q.step.as_millis() as i64).max(1);
    // Per result group and time bucket: (upper bound, summed rate) of each bucket.
    let mut histograms: BTreeMap<GroupKey, Vec<Vec<(f64, f64)>>> = BTreeMap::new();
    for ((source, mut labels), points) in keys.into_iter().zip(points) {
        let Some(le) = labels.remove("le").and_then(|le| parse_le(&le)) else {
            continue;
        };
        let histogram = histograms
            .entry((source, labels))
            .or_insert_with(|| vec![Vec::new(); q.buckets()]);
        for p in points {
            if let Some(bucket) = histogram.get_mut(((p.t - start) / step) as usize) {
                bucket.push((le, p.v));
            }
        }
    }
    let series = histograms
        .into_iter()
        .map(|((source, labels), buckets)| SeriesData {
            source,
            labels,
            points: buckets
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
        metric: q.metric.to_string(),
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
