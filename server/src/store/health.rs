//! The source-health read model: availability and outages per source over a period, read from the `up` samples
//! every collection round writes (1 for a successful round, 0 for a failed one). Data in: the `up` series and
//! their samples (through `chunk::points`, hot rows and compacted chunks alike); data out: [`SourceAvailability`] per source, used by reports (the `source_health` section). The Sources
//! page's live health is the collector's own (`collect::Collector::statuses`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct SourceAvailability {
    pub source: String,
    /// Collection rounds in the period.
    pub rounds: i64,
    /// Share of successful rounds, in percent (none without rounds).
    pub availability_pct: Option<f64>,
    /// The longest run of failed rounds: from the first failure to the next success (or the period's end).
    pub longest_outage_ms: i64,
    pub longest_outage_start: Option<DateTime<Utc>>,
    pub outages: i64,
}

/// Availability and outages per source, from its `up` samples (1 per successful collection round, 0 per failed).
pub async fn availability(
    pool: &PgPool,
    sources: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<SourceAvailability>> {
    let series: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, source FROM series
         WHERE metric = 'up' AND (cardinality($1::text[]) = 0 OR source = ANY($1))",
    )
    .bind(sources)
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = series.iter().map(|(id, _)| *id).collect();
    let mut points = super::chunk::points(pool, &ids, start, end).await?;
    // Every round of a source in time order (a source may have several `up` series).
    let mut rows: Vec<(String, DateTime<Utc>, f64)> = Vec::new();
    for (id, source) in series {
        let Some(p) = points.remove(&id) else {
            continue;
        };
        rows.extend(p.timed().into_iter().map(|(at, v)| (source.clone(), at, v)));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut by_source: BTreeMap<String, SourceAvailability> = sources
        .iter()
        .map(|s| (s.clone(), empty_availability(s)))
        .collect();
    // The start of the outage in progress, per source.
    let mut down_since: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut up_rounds: BTreeMap<String, i64> = BTreeMap::new();
    let close = |a: &mut SourceAvailability, from: DateTime<Utc>, to: DateTime<Utc>| {
        let ms = (to - from).num_milliseconds();
        a.outages += 1;
        if ms > a.longest_outage_ms {
            a.longest_outage_ms = ms;
            a.longest_outage_start = Some(from);
        }
    };
    for (source, ts, value) in rows {
        let a = by_source
            .entry(source.clone())
            .or_insert_with(|| empty_availability(&source));
        a.rounds += 1;
        if value >= 1.0 {
            *up_rounds.entry(source.clone()).or_default() += 1;
            if let Some(from) = down_since.remove(&source) {
                close(a, from, ts);
            }
        } else {
            down_since.entry(source.clone()).or_insert(ts);
        }
    }
    for (source, from) in down_since {
        if let Some(a) = by_source.get_mut(&source) {
            close(a, from, end);
        }
    }
    Ok(by_source
        .into_values()
        .map(|mut a| {
            if a.rounds > 0 {
                let up = up_rounds.get(&a.source).copied().unwrap_or(0);
                a.availability_pct = Some(up as f64 * 100.0 / a.rounds as f64);
            }
            a
        })
        .collect())
}

fn empty_availability(source: &str) -> SourceAvailability {
    SourceAvailability {
        source: source.to_string(),
        rounds: 0,
        availability_pct: None,
        longest_outage_ms: 0,
        longest_outage_start: None,
        outages: 0,
    }
}
