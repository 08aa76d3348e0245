//! Buckets over raw samples read through `chunk::points` (chunks and rows alike), for ranges that reach the
//! compacted tier, where SQL cannot see the values.
//!
//! Data in: the query's series ids with their result group (grouped: a group's ids are contiguous), read a bounded
//! number of series at a time. Data out: per group, one point per non-empty bucket, equal to what the SQL over rows
//! gives (`sum`, `avg`, `min`, `max` with NaN above every number, `count`, `last` by time then series id).

use super::{Aggregation, Query};
use crate::store::chunk::codec::pg_less;
use app::types::Point;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// One bucket's running aggregate.
#[derive(Debug, Clone, Copy)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Time, series id, value of the latest sample (ties: the larger series id, as the SQL orders).
    last: (i64, i64, f64),
}

impl Acc {
    const EMPTY: Acc = Acc {
        count: 0,
        sum: 0.0,
        min: f64::NAN,
        max: f64::NAN,
        last: (i64::MIN, i64::MIN, f64::NAN),
    };

    /// Adds one series' samples that fall in this bucket (in time order), keeping only what `aggregation` reads:
    /// a sum over many series need not compare every value.
    fn add_run(&mut self, aggregation: Aggregation, id: i64, ts: &[i64], vs: &[f64]) {
        let (Some(&t), Some(&v)) = (ts.last(), vs.last()) else {
            return;
        };
        match aggregation {
            Aggregation::Sum | Aggregation::Avg => {
                for v in vs {
                    self.sum += v;
                }
            }
            Aggregation::Count => {}
            Aggregation::Min | Aggregation::Max => {
                let mut values = vs.iter();
                if self.count == 0 {
                    let first = *values.next().expect("a run is never empty");
                    (self.min, self.max) = (first, first);
                }
                for &v in values {
                    if pg_less(v, self.min) {
                        self.min = v;
                    }
                    if pg_less(self.max, v) {
                        self.max = v;
                    }
                }
            }
            // The run's last sample is its latest (of equal times, the one read last).
            Aggregation::Last => {
                if (t, id) >= (self.last.0, self.last.1) {
                    self.last = (t, id, v);
                }
            }
            Aggregation::Rate | Aggregation::Increase | Aggregation::Quantile(_) => {
                unreachable!("counters are read by store::query::rate")
            }
        }
        self.count += vs.len() as u64;
    }

    fn value(&self, aggregation: Aggregation) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match aggregation {
            Aggregation::Sum => self.sum,
            Aggregation::Avg => self.sum / self.count as f64,
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
            Aggregation::Count => self.count as f64,
            Aggregation::Last => self.last.2,
            Aggregation::Rate | Aggregation::Increase | Aggregation::Quantile(_) => {
                unreachable!("counters are read by store::query::rate")
            }
        })
    }
}

/// Aggregates `[from, to)` of raw samples into buckets of `q.step`, appending to each group's points.
pub(super) async fn aggregate(
    pool: &PgPool,
    q: &Query,
    ids: &[i64],
    groups: &[i32],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: &mut [Vec<Point>],
) -> anyhow::Result<()> {
    let step = (q.step.as_millis() as i64).max(1);
    let first = from.timestamp_millis().div_euclid(step);
    let buckets = (to.timestamp_millis() - 1).div_euclid(step) - first + 1;
    let buckets = buckets.max(0) as usize;
    let mut open: BTreeMap<i32, Vec<Acc>> = BTreeMap::new();
    let mut flush = |open: &mut BTreeMap<i32, Vec<Acc>>, below: i32| {
        while let Some(entry) = open.first_entry() {
            if *entry.key() >= below {
                break;
            }
            let (group, accs) = entry.remove_entry();
            if let Some(out) = points.get_mut(group as usize) {
                out.extend(accs.iter().enumerate().filter_map(|(k, acc)| {
                    acc.value(q.aggregation).map(|v| Point {
                        t: (first + k as i64) * step,
                        v,
                    })
                }));
            }
        }
    };
    let (mut reading, mut bucketing, mut samples) =
        (std::time::Duration::ZERO, std::time::Duration::ZERO, 0usize);
    // The next batch is read (and its chunks decoded) while this one is bucketed: two reads in flight at most.
    // (The reads are made here, not by a closure inside the stream: such a closure is not `Send` for every
    // lifetime, which the spawned query task needs.)
    let per_read = crate::store::chunk::series_per_read(from, to);
    let reads: Vec<_> = ids
        .chunks(per_read)
        .map(|batch| crate::store::chunk::points(pool, batch, from, to))
        .collect();
    let mut reads = futures::stream::iter(reads).buffered(2);
    for (batch, batch_groups) in ids.chunks(per_read).zip(groups.chunks(per_read)) {
        let started = std::time::Instant::now();
        let read = reads.next().await.expect("one read per batch")?;
        reading += started.elapsed();
        let started = std::time::Instant::now();
        samples += read.values().map(|p| p.len()).sum::<usize>();
        for (id, group) in batch.iter().zip(batch_groups) {
            let Some(p) = read.get(id) else { continue };
            let accs = open
                .entry(*group)
                .or_insert_with(|| vec![Acc::EMPTY; buckets]);
            // A series' samples are in time order: each bucket's run is found by walking to its end, not by a
            // division per sample.
            let (ts, vs) = (&p.ts[..], &p.values[..]);
            let mut i = 0;
            while i < ts.len() {
                let k = ts[i].div_euclid(step) - first;
                let end = (first + k + 1).saturating_mul(step);
                let mut j = i + 1;
                while j < ts.len() && ts[j] < end {
                    j += 1;
                }
                if let Some(acc) = usize::try_from(k).ok().and_then(|k| accs.get_mut(k)) {
                    acc.add_run(q.aggregation, *id, &ts[i..j], &vs[i..j]);
                }
                i = j;
            }
        }
        // Groups are contiguous: those before the last one of this batch are complete.
        if let Some(last) = batch_groups.last() {
            flush(&mut open, *last);
        }
        bucketing += started.elapsed();
    }
    flush(&mut open, i32::MAX);
    tracing::debug!(
        series = ids.len(),
        samples,
        ?reading,
        ?bucketing,
        "raw buckets"
    );
    Ok(())
}
