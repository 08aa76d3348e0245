//! Counter rates: `rate` (per second) and `increase` (per bucket) of monotonic counters such as
//! `requests_total`, with Prometheus' counter-reset and extrapolation rules, so a chart reads as a Grafana panel of
//! `sum(rate(requests_total[w]))` does.
//!
//! Data enters as the samples of the query's series (raw samples, or each rollup row's last value and time where
//! the query reads a rollup tier), in time order per series, streamed from PostgreSQL; it leaves as one point per
//! bucket and result group: the sum over the group's series of each series' rate (Prometheus' `sum by (…)`).
//!
//! A bucket `[b, b + step)` takes its rate over the window `[b + step - w, b + step)`. `w` is the query's
//! `window`, or by default the larger of the step and four times the series' typical sample spacing (Grafana's
//! `$__rate_interval`: at least four samples, so one missed scrape leaves a rate). A window with fewer than two
//! samples has no rate. `increase` is the rate times the step: with `w` = step it is Prometheus' `increase`.

use super::{Aggregation, Query};
use crate::store::rollup::Tier;
use crate::store::Store;
use app::types::Point;
use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// How far before the first bucket samples are read when the window is chosen from the data.
/// (Four intervals of series scraped up to every 7.5 minutes.)
const DEFAULT_LOOKBACK: Duration = Duration::from_secs(1800);

/// One sample: milliseconds since the epoch, value.
type Sample = (i64, f64);

/// Prometheus' `extrapolatedRate` over the samples of `[range_start, range_end)` (ms): the increase, corrected
/// for counter resets and extrapolated towards the window's edges (to at most half a sample interval beyond the
/// first and last sample, and never below zero at the start); per second when `per_second`. `None` with fewer than
/// two samples. `resets` is the sum of the values before each reset within the samples.
fn extrapolated(
    samples: &[Sample],
    resets: f64,
    range_start: i64,
    range_end: i64,
    per_second: bool,
) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 || last.0 <= first.0 {
        return None;
    }
    let mut result = last.1 - first.1 + resets;
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average = sampled / (samples.len() - 1) as f64;
    // A counter does not go below zero: extrapolate to the start no further than where it would reach zero.
    if result > 0.0 && first.1 >= 0.0 {
        to_start = to_start.min(sampled * (first.1 / result));
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    result *= interval / sampled;
    if per_second {
        result /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result)
}

/// The typical spacing of a series' samples (the median gap), if it has two.
fn typical_spacing(samples: &[Sample]) -> Option<i64> {
    let mut gaps: Vec<i64> = samples.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if gaps.is_empty() {
        return None;
    }
    let middle = gaps.len() / 2;
    Some(*gaps.select_nth_unstable(middle).1)
}

/// One series' value per bucket of `q` (`None` where its window holds fewer than two samples).
fn per_bucket(samples: &[Sample], q: &Query) -> Vec<Option<f64>> {
    let step = q.step.as_millis() as i64;
    let start = q.start.timestamp_millis();
    let buckets = q.buckets();
    let window = match q.window {
        Some(w) => w.as_millis() as i64,
        None => step.max(typical_spacing(samples).unwrap_or(0) * 4),
    };
    // resets[i]: the sum of the values before each reset among samples[..=i].
    let mut resets = Vec::with_capacity(samples.len());
    let mut total = 0.0;
    for (i, s) in samples.iter().enumerate() {
        if i > 0 && s.1 < samples[i - 1].1 {
            total += samples[i - 1].1;
        }
        resets.push(total);
    }
    // The newest bucket's window ends now, not at the bucket's end in the future (its rate is not diluted).
    let until = q.until.timestamp_millis();
    let (mut lo, mut hi) = (0, 0);
    (0..buckets)
        .map(|k| {
            let full = start + (k as i64 + 1) * step;
            let begin = full - window;
            let end = full.min(until);
            if end <= begin {
                return None;
            }
            while hi < samples.len() && samples[hi].0 < end {
                hi += 1;
            }
            while lo < hi && samples[lo].0 < begin {
                lo += 1;
            }
            if hi < lo + 2 {
                return None;
            }
            let rate = extrapolated(
                &samples[lo..hi],
                resets[hi - 1] - resets[lo],
                begin,
                end,
                true,
            )?;
            Some(match q.aggregation {
                Aggregation::Increase => rate * q.step.as_secs_f64(),
                _ => rate,
            })
        })
        .collect()
}

/// Runs a `rate` or `increase` query over the series `ids` (with their result group in `groups`); returns each
/// group's points (the sum of its series' values per bucket) and the tier read.
pub(super) async fn run(
    store: &Store,
    q: &Query,
    ids: &[i64],
    groups: &[i32],
    group_count: usize,
) -> anyhow::Result<(Vec<Vec<Point>>, Tier)> {
    let group_of: BTreeMap<i64, usize> = ids
        .iter()
        .zip(groups)
        .map(|(id, g)| (*id, *g as usize))
        .collect();
    let mut sums: Vec<Vec<Option<f64>>> = vec![vec![None; q.buckets()]; group_count];
    let tier = each_series(store, q, ids, |series, values| {
        let Some(group) = group_of.get(&series).and_then(|g| sums.get_mut(*g)) else {
            return;
        };
        for (sum, value) in group.iter_mut().zip(values) {
            if let Some(v) = value {
                *sum = Some(sum.unwrap_or(0.0) + v);
            }
        }
    })
    .await?;
    let start = q.start.timestamp_millis();
    let step = q.step.as_millis() as i64;
    let points = sums
        .into_iter()
        .map(|values| {
            values
                .into_iter()
                .enumerate()
                .filter_map(|(k, v)| {
                    v.map(|v| Point {
                        t: start + k as i64 * step,
                        v,
                    })
                })
                .collect()
        })
        .collect();
    Ok((points, tier))
}

/// Streams the samples of each of `ids` in time order — raw samples before `q.tier`'s rows begin, the tier's rows
/// (each one's last sample) up to the rollup watermark, raw samples after it — and hands each series' per-bucket
/// value (rate, or increase) to `f`.
/// Returns the tier read (raw when the tier held nothing of the range).
async fn each_series(
    store: &Store,
    q: &Query,
    ids: &[i64],
    mut f: impl FnMut(i64, Vec<Option<f64>>),
) -> anyhow::Result<Tier> {
    let lookback = q.window.unwrap_or(DEFAULT_LOOKBACK.max(q.step));
    let from = q.start - chrono::Duration::from_std(lookback.saturating_sub(q.step))?;
    let table = match q.tier {
        Tier::Raw => None,
        Tier::Minute => Some("rollup_1m"),
        Tier::Hour => Some("rollup_1h"),
    };
    // Raw samples before the tier's rows begin (minutes of compacted hours are read from the chunks), the tier
    // up to where it is complete, raw samples after.
    let (tier_from, split) = match table {
        None => (from, from),
        Some(_) => {
            let tier_from = super::tier_rows_from(store, q.tier)
                .await?
                .clamp(from, q.end);
            match store.rollup_watermark().await? {
                Some(pending) => (tier_from, pending.clamp(tier_from, q.end)),
                None => (tier_from, q.end),
            }
        }
    };
    let tier = if split > tier_from.max(q.start) {
        q.tier
    } else {
        Tier::Raw
    };
    let raw_from = split.max(from);
    let tier_sql = table.map(|table| {
        format!(
            "SELECT series_id, last_ts, last FROM {table}
             WHERE series_id = ANY($1) AND bucket >= $2 AND bucket < $3 ORDER BY 1, 2"
        )
    });
    // A bounded number of series in memory at once; raw samples from the chunks and rows (`chunk::points`).
    for batch in ids.chunks(crate::store::chunk::series_per_read(from, q.end)) {
        let mut rolled: BTreeMap<i64, Vec<Sample>> = BTreeMap::new();
        if tier_from > from {
            for (series, p) in
                crate::store::chunk::points(store.pool(), batch, from, tier_from).await?
            {
                rolled.insert(series, p.ts.into_iter().zip(p.values).collect());
            }
        }
        if let Some(sql) = tier_sql.as_deref().filter(|_| split > tier_from) {
            let mut rows = sqlx::query_as::<_, (i64, chrono::DateTime<chrono::Utc>, f64)>(sql)
                .bind(batch)
                .bind(tier_from)
                .bind(split)
                .fetch(store.pool());
            while let Some((series, t, v)) = rows.try_next().await? {
                rolled
                    .entry(series)
                    .or_default()
                    .push((t.timestamp_millis(), v));
            }
        }
        let mut raw = crate::store::chunk::points(store.pool(), batch, raw_from, q.end).await?;
        for series in batch {
            let mut samples = rolled.remove(series).unwrap_or_default();
            if let Some(p) = raw.remove(series) {
                for (t, v) in p.ts.into_iter().zip(p.values) {
                    // The rollup's last sample of a minute and the raw one at the split can be the same sample.
                    if samples.last().is_some_and(|last| last.0 >= t) {
                        continue;
                    }
                    samples.push((t, v));
                }
            }
            if !samples.is_empty() {
                f(*series, per_bucket(&samples, q));
            }
        }
    }
    Ok(tier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_counter_rates_exactly_and_extrapolates_to_the_window() {
        // 1 per second, sampled every 10 s at 5, 15, …, 55 within [0, 60 s).
        let samples: Vec<Sample> = (0..6)
            .map(|i| (5_000 + i * 10_000, (5 + i * 10) as f64))
            .collect();
        let rate = extrapolated(&samples, 0.0, 0, 60_000, true).unwrap();
        assert!((rate - 1.0).abs() < 1e-9, "{rate}");
        let increase = extrapolated(&samples, 0.0, 0, 60_000, false).unwrap();
        assert!((increase - 60.0).abs() < 1e-9, "{increase}");
    }

    #[test]
    fn a_reset_counts_the_value_before_it_and_one_sample_has_no_rate() {
        // 100, 110, reset to 5, 15: increases 10 + 5 + 10 = 25 over 30 s of samples.
        let samples: Vec<Sample> = vec![(0, 100.0), (10_000, 110.0), (20_000, 5.0), (30_000, 15.0)];
        let raw = extrapolated(&samples, 110.0, 0, 30_001, false).unwrap();
        assert!((raw - 25.0).abs() < 0.01, "{raw}");
        assert_eq!(extrapolated(&samples[..1], 0.0, 0, 60_000, true), None);
    }

    #[test]
    fn the_start_is_not_extrapolated_below_zero() {
        // A counter born at 15 s: 0 → 30 by 45 s; without the zero clamp it would extrapolate to 15 s before.
        let samples: Vec<Sample> = vec![(15_000, 0.0), (30_000, 15.0), (45_000, 30.0)];
        let increase = extrapolated(&samples, 0.0, 0, 60_000, false).unwrap();
        // To the start: min(15 s, 30 s × 0/30 = 0) = 0; to the end 15 s < 16.5: 30 × (30 + 0 + 15) / 30 = 45.
        assert!((increase - 45.0).abs() < 1e-9, "{increase}");
    }

    #[test]
    fn the_newest_bucket_is_not_diluted_by_the_future() {
        use chrono::{TimeZone, Utc};
        // 1 per second, sampled every second up to `now`, which lies 3 s into the last 10 s bucket.
        let now = Utc.timestamp_opt(1_800_000_003, 0).unwrap();
        let request = app::types::QueryRequest {
            metric: "requests_total".into(),
            start: Some("-60s".into()),
            step: Some("10s".into()),
            window: Some("10s".into()),
            aggregation: Some("rate".into()),
            ..Default::default()
        };
        let q = Query::parse(&request, now).unwrap();
        assert!(q.end > now, "the last bucket reaches past now");
        let samples: Vec<Sample> = (0..=70)
            .map(|i| (now.timestamp_millis() - 70_000 + i * 1000, i as f64))
            .collect();
        let rates = per_bucket(&samples, &q);
        let last = rates
            .last()
            .copied()
            .flatten()
            .expect("the newest bucket has a rate");
        assert!((last - 1.0).abs() < 0.05, "newest rate {last}, not diluted");
        assert!(
            rates.iter().flatten().all(|r| (r - 1.0).abs() < 0.05),
            "{rates:?}"
        );
    }

    #[test]
    fn the_default_window_holds_four_samples() {
        let mut series: Vec<Sample> = vec![(0, 1.0), (10_000, 2.0), (20_000, 3.0)];
        series.push((30_000, 4.0));
        assert_eq!(typical_spacing(&series), Some(10_000));
        assert_eq!(typical_spacing(&series[..1]), None);
    }
}
