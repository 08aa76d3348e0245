//! Storage guarantees straight against PostgreSQL: retention drops whole partitions, and a connection killed
//! mid-batch loses no acknowledged sample and duplicates none.

use crate::helpers::{drop_database, fresh_database};
use chrono::{Duration as Days, TimeZone, Utc};
use mcpulse::config;
use mcpulse::db::{ClusterOwnership, Database};
use mcpulse::store::{Labels, Retention, Sample, Store};
use std::collections::BTreeMap;
use std::time::Duration;

async fn open() -> (Database, String) {
    let (url, name) = fresh_database().await;
    let env: BTreeMap<String, String> = [("DATABASE_URL".to_string(), url)].into();
    let db = Database::open(
        &config::from_sources(None, &env).unwrap(),
        ClusterOwnership::Guest,
    )
    .await
    .unwrap();
    mcpulse::db::migrate(&db.pool).await.unwrap();
    (db, name)
}

/// Asserts that `store` reads back, for each `(id, key)` of `ids`, exactly the samples `written[key]` has in
/// `[lo, hi)`, bit for bit.
async fn assert_reads_back(
    store: &Store,
    ids: &[(i64, String)],
    written: &BTreeMap<String, Vec<(i64, u64)>>,
    lo: chrono::DateTime<Utc>,
    hi: chrono::DateTime<Utc>,
) {
    let id_list: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    let read = store.points(&id_list, lo, hi).await.unwrap();
    for (id, s) in ids {
        let expected: Vec<(i64, u64)> = written[s]
            .iter()
            .copied()
            .filter(|(t, _)| *t >= lo.timestamp_millis() && *t < hi.timestamp_millis())
            .collect();
        let got: Vec<(i64, u64)> = read
            .get(id)
            .map(|p| {
                p.ts.iter()
                    .copied()
                    .zip(p.values.iter().map(|v| v.to_bits()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(got, expected, "series {s} in [{lo}, {hi})");
    }
}

/// `series` series of `metric` (labels `series` = 0, 1, …) from `from` (offset by 977 ms a series) until `until`:
/// `next(series, i)` gives the i-th sample's value and the gap to the next (i from 1). Returns the samples, series
/// after series, and each series' `(ms, value bits)` as written.
fn spread(
    metric: &str,
    series: i64,
    from: chrono::DateTime<Utc>,
    until: chrono::DateTime<Utc>,
    mut next: impl FnMut(i64, i64) -> (Days, f64),
) -> (Vec<Sample>, BTreeMap<String, Vec<(i64, u64)>>) {
    let mut written: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    let mut batch = Vec::new();
    for s in 0..series {
        let mut t = from + Days::milliseconds(s * 977);
        let mut i = 0;
        while t < until {
            i += 1;
            let (gap, v) = next(s, i);
            batch.push(of_series(metric, &s.to_string(), t, v));
            written
                .entry(s.to_string())
                .or_default()
                .push((t.timestamp_millis(), v.to_bits()));
            t += gap;
        }
    }
    (batch, written)
}

/// Writes `batch` in pieces of 10,000, rolls it up and compacts what is older than a 2-hour hot window.
async fn write_and_compact(
    store: &Store,
    batch: &[Sample],
    now: chrono::DateTime<Utc>,
) -> mcpulse::store::chunk::Compacted {
    for part in batch.chunks(10_000) {
        store.write(part).await.unwrap();
    }
    store.roll_up().await.unwrap();
    store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap()
}

/// One sample of `metric` from source `s`, its series named by the label `series`.
fn of_series(metric: &str, series: &str, ts: chrono::DateTime<Utc>, value: f64) -> Sample {
    Sample {
        metric: metric.parse().unwrap(),
        source: "s".parse().unwrap(),
        labels: Labels::from([("series".to_string(), series.to_string())])
            .try_into()
            .unwrap(),
        ts,
        value,
    }
}

fn samples(metric: &str, n: usize, at: chrono::DateTime<Utc>) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            metric: metric.parse().unwrap(),
            source: "s".parse().unwrap(),
            labels: Labels::from([("shard".to_string(), (i % 50).to_string())])
                .try_into()
                .unwrap(),
            ts: at + chrono::Duration::milliseconds(i as i64),
            value: i as f64,
        })
        .collect()
}

async fn count(db: &Database, metric: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM samples_in('-infinity', 'infinity') JOIN series ON series.id = series_id WHERE metric = $1",
    )
    .bind(metric)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn retention_drops_whole_old_partitions_only() {
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    store
        .write(&samples("old", 100, Utc::now() - Days::days(10)))
        .await
        .unwrap();
    store
        .write(&samples("recent", 100, Utc::now() - Days::days(1)))
        .await
        .unwrap();

    let dropped = store
        .apply_retention(Utc::now(), &Retention::all(Duration::from_secs(7 * 86400)))
        .await
        .unwrap();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(count(&db, "old").await, 0);
    assert_eq!(count(&db, "recent").await, 100);
    assert!(
        store
            .apply_retention(Utc::now(), &Retention::all(Duration::from_secs(7 * 86400)))
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
    db.close().await;
    drop_database(&name).await;
}

/// Several clients pushing the same series at once: each batch's latest values are written together with those of
/// batches committed meanwhile (one update of the series rows, not one per batch), and every write returns only once
/// its values are in `series` — so the rows hold each series' newest sample, whichever batch committed last.
#[tokio::test]
async fn concurrent_batches_of_the_same_series_leave_each_series_its_newest_sample() {
    let (db, name) = open().await;
    let store = std::sync::Arc::new(Store::new(db.pool.clone()));
    let start = chrono::DurationRound::duration_trunc(Utc::now(), Days::minutes(1)).unwrap();
    let (clients, batches, series, points) = (4usize, 12usize, 40usize, 5i64);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..batches {
                // Clients interleave in time: client c's batch b covers points of slot b * clients + c.
                let slot = (batch * clients + client) as i64;
                let mut samples = Vec::new();
                for s in 0..series {
                    for k in 0..points {
                        let t = start + Days::seconds(slot * points + k);
                        samples.push(of_series(
                            "shared",
                            &s.to_string(),
                            t,
                            (slot * points + k) as f64,
                        ));
                    }
                }
                store.write(&samples).await.unwrap();
                // Acknowledged: this batch's values (or newer ones) are in the rows already.
                let oldest: f64 = sqlx::query_scalar(
                    "SELECT min(last_value) FROM series WHERE metric = 'shared'",
                )
                .fetch_one(store.pool())
                .await
                .unwrap();
                assert!(
                    oldest >= (slot * points + points - 1) as f64,
                    "client {client}, batch {batch}: {oldest}"
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let newest = (clients * batches) as i64 * points - 1;
    let rows: Vec<(f64, chrono::DateTime<Utc>)> = sqlx::query_as(
        "SELECT last_value, last_ts FROM series WHERE metric = 'shared' ORDER BY labels::text",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), series);
    for (value, at) in rows {
        assert_eq!(value, newest as f64);
        assert_eq!(at, start + Days::seconds(newest));
    }
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn a_killed_connection_loses_no_acknowledged_sample_and_duplicates_none() {
    let (db, name) = open().await;
    let store = std::sync::Arc::new(Store::new(db.pool.clone()));
    store
        .write(&samples("acked", 1000, Utc::now()))
        .await
        .unwrap();

    let mut killed = false;
    for (attempt, size) in [200_000usize, 400_000, 800_000].into_iter().enumerate() {
        let metric = format!("victim{attempt}");
        let batch = samples(&metric, size, Utc::now() - Days::minutes(5));
        let writer = {
            let store = store.clone();
            let batch = batch.clone();
            tokio::spawn(async move { store.write(&batch).await })
        };
        // Kill the backend while it runs the sample insert.
        let killer = async {
            for _ in 0..2000 {
                let pid: Option<i32> = sqlx::query_scalar(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND state = 'active' AND query LIKE 'COPY samples%'",
                )
                .fetch_optional(&db.pool)
                .await
                .unwrap();
                if let Some(pid) = pid {
                    sqlx::query("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .execute(&db.pool)
                        .await
                        .unwrap();
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            false
        };
        let terminated = killer.await;
        let result = writer.await.unwrap();
        match result {
            Err(_) => {
                assert!(terminated);
                assert_eq!(
                    count(&db, &metric).await,
                    0,
                    "an unacknowledged batch left nothing behind"
                );
                // The sender retries (it got no acknowledgement): stored exactly once.
                store
                    .write(&batch)
                    .await
                    .expect("the retry succeeds on a fresh connection");
                assert_eq!(
                    count(&db, &metric).await,
                    size as i64,
                    "no duplicates after the retry"
                );
                killed = true;
                break;
            }
            Ok(outcome) => assert_eq!(
                count(&db, &metric).await,
                outcome.stored as i64,
                "acknowledged means stored"
            ),
        }
    }
    assert!(
        killed,
        "the insert was never caught running; the test did not exercise the kill"
    );
    assert_eq!(
        count(&db, "acked").await,
        1000,
        "earlier acknowledged samples are intact"
    );
    db.close().await;
    drop_database(&name).await;
}

/// Three series (two zones) with irregular values every 7 s over five hours, ending an hour ago on an hour boundary.
fn varied(from: chrono::DateTime<Utc>) -> Vec<Sample> {
    let mut out = Vec::new();
    for (shard, zone) in [("0", "eu"), ("1", "eu"), ("2", "us")] {
        for i in 0..(5 * 3600 / 7) {
            out.push(Sample {
                metric: "latency".parse().unwrap(),
                source: "s".parse().unwrap(),
                labels: Labels::from([
                    ("shard".to_string(), shard.to_string()),
                    ("zone".to_string(), zone.to_string()),
                ])
                .try_into()
                .unwrap(),
                ts: from + chrono::Duration::seconds(7 * i),
                value: ((i * 7919 + shard.len() as i64 * 31) % 1000) as f64 / 7.0 - 20.0,
            });
        }
    }
    out
}

async fn run_query(
    store: &Store,
    from: chrono::DateTime<Utc>,
    step: &str,
    aggregation: &str,
    group_by: &str,
    resolution: &str,
) -> app::types::QueryResult {
    let request = app::types::QueryRequest {
        metric: "latency".into(),
        start: Some(from.to_rfc3339()),
        end: Some((from + chrono::Duration::hours(5)).to_rfc3339()),
        step: Some(step.into()),
        aggregation: Some(aggregation.into()),
        group_by: Some(group_by.into()),
        resolution: Some(resolution.into()),
        ..Default::default()
    };
    let query = mcpulse::store::query::Query::parse(&request, Utc::now()).unwrap();
    mcpulse::store::query::run(store, &query).await.unwrap()
}

fn assert_same(tiered: &app::types::QueryResult, raw: &app::types::QueryResult, what: &str) {
    assert_eq!(tiered.series.len(), raw.series.len(), "{what}: series");
    for (a, b) in tiered.series.iter().zip(&raw.series) {
        assert_eq!((&a.source, &a.labels), (&b.source, &b.labels), "{what}");
        assert_eq!(
            a.points.len(),
            b.points.len(),
            "{what}: points of {:?}",
            a.labels
        );
        for (p, q) in a.points.iter().zip(&b.points) {
            assert_eq!(p.t, q.t, "{what}: bucket times");
            assert!(
                (p.v - q.v).abs() <= 1e-9 * q.v.abs().max(1.0),
                "{what} at {}: rollup {} vs raw {}",
                p.t,
                p.v,
                q.v
            );
        }
    }
}

#[tokio::test]
async fn rollup_queries_equal_raw_queries_on_the_same_data() {
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    let hour = 3600;
    let from = Utc
        .timestamp_opt((Utc::now().timestamp() / hour - 6) * hour, 0)
        .unwrap();
    store.write(&varied(from)).await.unwrap();
    assert!(store.roll_up().await.unwrap() > 0);
    assert_eq!(store.rollup_watermark().await.unwrap(), None);

    for (step, tier) in [("1m", "1m"), ("5m", "1m"), ("1h", "1h"), ("90s", "raw")] {
        for aggregation in ["avg", "sum", "min", "max", "count", "last"] {
            for group_by in ["", "series", "zone"] {
                let what = format!("step {step}, {aggregation}, group_by {group_by:?}");
                let tiered = run_query(&store, from, step, aggregation, group_by, "auto").await;
                let raw = run_query(&store, from, step, aggregation, group_by, "raw").await;
                assert_eq!(tiered.resolution, tier, "{what}");
                assert_eq!(raw.resolution, "raw", "{what}");
                assert!(!raw.series.is_empty(), "{what}: no data");
                assert_same(&tiered, &raw, &what);
            }
        }
    }

    // A late sample inside an hour already rolled up: until the job runs again, queries read raw data from there
    // on, so the answer is right at once; after the job the tier has it too.
    let late = Sample {
        metric: "latency".parse().unwrap(),
        source: "s".parse().unwrap(),
        labels: Labels::from([
            ("shard".to_string(), "0".to_string()),
            ("zone".to_string(), "eu".to_string()),
        ])
        .try_into()
        .unwrap(),
        ts: from + chrono::Duration::minutes(90) + chrono::Duration::milliseconds(500),
        value: 1e6,
    };
    store.write(std::slice::from_ref(&late)).await.unwrap();
    for stage in ["before the job", "after the job"] {
        let tiered = run_query(&store, from, "1h", "max", "", "auto").await;
        let raw = run_query(&store, from, "1h", "max", "", "raw").await;
        assert_same(&tiered, &raw, stage);
        assert_eq!(tiered.series[0].points[1].v, 1e6, "{stage}");
        store.roll_up().await.unwrap();
    }
    let tiered = run_query(&store, from, "1h", "max", "", "auto").await;
    assert_eq!(
        tiered.resolution, "1h",
        "the tier is used again once the job ran"
    );

    // Compacted: the minute rows of hours beyond the out-of-order window go (the chunks answer for them), the hour
    // rows stay, and every step still answers what the raw samples give.
    let done = store
        .compact(Utc::now(), Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert!(done.hours >= 3, "{done:?}");
    let watermark = store.compaction_watermark().await.unwrap().unwrap();
    let (before, after): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE bucket < $1), count(*) FILTER (WHERE bucket >= $1) FROM rollup_1m",
    )
    .bind(watermark - chrono::Duration::hours(1))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(before, 0, "no minute rows before the out-of-order window");
    assert!(after > 0, "the hot window keeps its minute rows");
    let hours: i64 = sqlx::query_scalar("SELECT count(*) FROM rollup_1h WHERE bucket < $1")
        .bind(watermark)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(hours > 0, "hour rows outlive the minute rows");
    for (step, tier) in [("1m", "1m"), ("5m", "1m"), ("1h", "1h"), ("90s", "raw")] {
        for aggregation in ["avg", "sum", "min", "max", "count", "last"] {
            for group_by in ["", "series", "zone"] {
                let what = format!("compacted, step {step}, {aggregation}, group_by {group_by:?}");
                let tiered = run_query(&store, from, step, aggregation, group_by, "auto").await;
                let raw = run_query(&store, from, step, aggregation, group_by, "raw").await;
                assert_eq!(tiered.resolution, tier, "{what}");
                assert!(!raw.series.is_empty(), "{what}: no data");
                assert_same(&tiered, &raw, &what);
            }
        }
    }
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn rollups_outlive_raw_samples_and_go_with_their_own_retention() {
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    store
        .write(&samples("old", 100, Utc::now() - Days::days(10)))
        .await
        .unwrap();
    store.roll_up().await.unwrap();
    let rollup_rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rollup_1m")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    let rows = rollup_rows().await;
    assert!(
        rows >= 50,
        "a minute row per shard (two if the 100 ms straddle a minute): {rows}"
    );
    let week = Duration::from_secs(7 * 86400);
    let dropped = store
        .apply_retention(
            Utc::now(),
            &Retention {
                samples: week,
                rollup_1m: week * 4,
                rollup_1h: week * 52,
            },
        )
        .await
        .unwrap();
    assert_eq!(dropped.len(), 1, "only the samples partition: {dropped:?}");
    assert_eq!(count(&db, "old").await, 0);
    assert_eq!(
        rollup_rows().await,
        rows,
        "the minute rollups outlive the samples"
    );
    let dropped = store
        .apply_retention(Utc::now(), &Retention::all(week))
        .await
        .unwrap();
    assert!(
        dropped.iter().any(|n| n.starts_with("rollup_1m_p")),
        "{dropped:?}"
    );
    assert_eq!(rollup_rows().await, 0);
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn the_rollup_job_folds_ranges_of_several_new_days_at_once() {
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    for days in [3, 2, 1] {
        store
            .write(&samples("spread", 10, Utc::now() - Days::days(days)))
            .await
            .unwrap();
    }
    // Partitions of each day are made before the folding transaction takes the tables (it used to wait for
    // itself when a second day's partition was missing).
    let folded = tokio::time::timeout(Duration::from_secs(30), store.roll_up())
        .await
        .expect("the rollup job finishes")
        .unwrap();
    assert_eq!(folded, 3);
    let minutes: i64 = sqlx::query_scalar("SELECT sum(count)::bigint FROM rollup_1m")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(minutes, 30, "every sample is in the minute rollups");
    db.close().await;
    drop_database(&name).await;
}

/// Random irregular series over three closed hours: compaction moves every row into chunks (none stays raw, none is
/// duplicated), and reading back gives every sample bit for bit, also for a range that cuts hours in half.
#[tokio::test]
async fn compacted_hours_read_back_exactly_what_was_written() {
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    let now = Utc::now();
    let hour = |h: i64| {
        use chrono::DurationRound;
        (now - Days::hours(h))
            .duration_trunc(Days::hours(1))
            .unwrap()
    };
    let (from, to) = (hour(6), hour(3));
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut written: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    let mut batch = Vec::new();
    for s in 0..20 {
        let mut t = from + Days::milliseconds((next() % 5_000) as i64);
        let mut v = 100.0;
        while t < to {
            v = match s % 4 {
                // Two-decimal random walks, counters, constants and wild bit patterns.
                0 => ((v + (next() % 400) as f64 / 100.0 - 2.0) * 100.0_f64).round() / 100.0,
                1 => v + (next() % 7) as f64,
                2 => 1.0,
                _ => {
                    f64::from_bits(next() & !(0x7ff << 52) | (0x3ff << 52))
                        * [1.0, -1.0][(next() % 2) as usize]
                }
            };
            let sample = Sample {
                metric: "irregular".parse().unwrap(),
                source: "s".parse().unwrap(),
                labels: Labels::from([("series".to_string(), s.to_string())])
                    .try_into()
                    .unwrap(),
                ts: t,
                value: v,
            };
            written
                .entry(s.to_string())
                .or_default()
                .push((t.timestamp_millis(), v.to_bits()));
            batch.push(sample);
            t += Days::milliseconds(1 + (next() % 30_000) as i64);
        }
    }
    // Shuffled, so each batch holds many samples of every series across hours, out of time order: stored as block
    // rows (sorted, split at hours) and read back like rows.
    for i in (1..batch.len()).rev() {
        batch.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    for part in batch.chunks(5_000) {
        store.write(part).await.unwrap();
    }
    let (blocks, rows): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE block_ts IS NOT NULL), count(*) FILTER (WHERE block_ts IS NULL) FROM samples",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        blocks > 0,
        "several samples of a series in one batch make a block row"
    );
    assert!(
        ((blocks + rows) as usize) < batch.len() / 10,
        "{blocks} block rows and {rows} rows for {} samples",
        batch.len()
    );
    let hot_ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, labels->>'series' FROM series WHERE metric = 'irregular'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for (lo, hi) in [
        (from, to),
        (from + Days::minutes(30), to - Days::minutes(75)),
        (
            from + Days::milliseconds(1_234_567),
            from + Days::milliseconds(1_234_568),
        ),
    ] {
        assert_reads_back(&store, &hot_ids, &written, lo, hi).await;
    }
    store.roll_up().await.unwrap();
    let done = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(done.hours, 3, "{done:?}");
    assert_eq!(done.samples, batch.len(), "{done:?}");
    assert_eq!(
        store.compaction_watermark().await.unwrap(),
        Some(hour(2)),
        "up to the hot window (empty hours included)"
    );
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM samples_in('-infinity', 'infinity')")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(raw, 0, "every compacted row left the hot tier");
    let again = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(again.hours, 0, "nothing is compacted twice");

    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, labels->>'series' FROM series WHERE metric = 'irregular'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let id_list: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    for (lo, hi) in [
        (from, to),
        (from + Days::minutes(30), to - Days::minutes(75)),
    ] {
        assert_reads_back(&store, &ids, &written, lo, hi).await;
    }
    let (chunks, bytes): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(octet_length(data))::int8 FROM sample_chunks")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    println!(
        "{} samples in {chunks} chunks, {:.2} encoded bytes/sample",
        batch.len(),
        bytes as f64 / batch.len() as f64
    );
    // An alert whose window reaches into the compacted hours reduces the same samples.
    let alerting = mcpulse::alert::Alerting::new(
        db.pool.clone(),
        mcpulse::alert::notify::AllowList::default(),
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap();
    let rule = alerting
        .create_rule(
            &app::types::RuleDraft {
                name: "Long".into(),
                metric: "irregular".into(),
                matchers: vec!["series=1".into()],
                reduce: "count".into(),
                window: "5h".into(),
                condition: ">".into(),
                threshold: "0".into(),
                enabled: true,
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    alerting.evaluate(now).await.unwrap();
    let counted: f64 = sqlx::query_scalar("SELECT value FROM alert_states WHERE rule_id = $1")
        .bind(rule.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let since = (now - Days::hours(5)).timestamp_millis();
    let expected = written["1"].iter().filter(|(t, _)| *t > since).count();
    assert_eq!(
        counted as usize, expected,
        "the 5 h window counts compacted samples"
    );
    // A damaged chunk is an error naming its series and hour, never a panic or wrong numbers.
    for damage in ["'\\x09'::bytea", "substring(data from 1 for 12)"] {
        let victim = id_list[0];
        let start: chrono::DateTime<Utc> = sqlx::query_scalar(&format!(
            "UPDATE sample_chunks SET data = {damage} WHERE series_id = $1 AND start_ts <= $2 AND end_ts > $2
             RETURNING start_ts"
        ))
        .bind(victim)
        .bind(from)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let e = store
            .points(&[victim], from, to)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("series {victim}")) && e.contains(&start.to_string()),
            "{e}"
        );
    }
    db.close().await;
    drop_database(&name).await;
}

/// Compaction's connections killed again and again while it runs (as a crash or `kill -9` of mcpulse ends them):
/// every attempt either moves a whole hour or nothing, so once it gets through, every sample is there exactly once.
#[tokio::test]
async fn compaction_killed_mid_hour_again_and_again_loses_and_duplicates_nothing() {
    let (db, name) = open().await;
    let store = std::sync::Arc::new(Store::new(db.pool.clone()));
    let now = Utc::now();
    let from = {
        use chrono::DurationRound;
        (now - Days::hours(7))
            .duration_trunc(Days::hours(1))
            .unwrap()
    };
    let mut batch = Vec::new();
    for s in 0..400 {
        for i in 0..(4 * 360) {
            batch.push(Sample {
                metric: "busy".parse().unwrap(),
                source: "s".parse().unwrap(),
                labels: Labels::from([("series".to_string(), s.to_string())])
                    .try_into()
                    .unwrap(),
                ts: from + Days::seconds(10 * i) + Days::milliseconds(s),
                value: ((i * 37 + s * 11) % 1000) as f64 / 100.0,
            });
        }
    }
    // Half the series arrive many points at a time (block rows), half one point per series and batch (plain rows,
    // which keep the compaction busy long enough to be caught): both kinds are taken by the killed compactions.
    let (blocks, rows): (Vec<&Sample>, Vec<&Sample>) = batch
        .iter()
        .partition(|s| s.labels["series"].parse::<i64>().unwrap() % 2 == 0);
    for part in blocks.chunks(20_000) {
        let part: Vec<Sample> = part.iter().map(|s| (*s).clone()).collect();
        store.write(&part).await.unwrap();
    }
    let mut by_time = rows;
    by_time.sort_by_key(|s| s.ts.timestamp_millis() / 10_000);
    for part in by_time.chunks(200) {
        let part: Vec<Sample> = part.iter().map(|s| (*s).clone()).collect();
        store.write(&part).await.unwrap();
    }
    store.roll_up().await.unwrap();
    let (written, written_sum): (i64, f64) =
        sqlx::query_as("SELECT count(*), sum(value) FROM samples_in('-infinity', 'infinity')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(written as usize, batch.len());
    let (block_rows, plain_rows): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE block_ts IS NOT NULL), count(*) FILTER (WHERE block_ts IS NULL) FROM samples",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        block_rows > 0 && plain_rows > 0,
        "{block_rows} block rows, {plain_rows} rows"
    );

    let mut kills = 0;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let compaction = {
            let store = store.clone();
            tokio::spawn(async move { store.compact(now, Duration::from_secs(2 * 3600)).await })
        };
        // Kill whatever the compaction is running, a little later each attempt.
        tokio::time::sleep(Duration::from_millis(20 * (attempts % 7))).await;
        let killed: Vec<i32> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid)::int FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        kills += killed.len();
        let outcome = compaction.await.unwrap();
        // A consistent state after every attempt: each sample in the rows or in a chunk, never both, never neither.
        let (raw, raw_sum): (i64, Option<f64>) =
            sqlx::query_as("SELECT count(*), sum(value) FROM samples_in('-infinity', 'infinity')")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let (chunked, chunked_sum): (Option<i64>, Option<f64>) =
            sqlx::query_as("SELECT sum(count)::int8, sum(sum) FROM sample_chunks")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(
            raw + chunked.unwrap_or(0),
            written,
            "attempt {attempts}: {outcome:?}"
        );
        let total = raw_sum.unwrap_or(0.0) + chunked_sum.unwrap_or(0.0);
        assert!(
            (total - written_sum).abs() < 1e-6 * written_sum,
            "attempt {attempts}: sums {total} vs {written_sum}"
        );
        if outcome.is_ok()
            && store
                .compact(now, Duration::from_secs(2 * 3600))
                .await
                .unwrap()
                .hours
                == 0
            && raw == 0
        {
            break;
        }
        assert!(attempts < 200, "compaction never got through");
    }
    assert!(kills > 0, "no compaction statement was ever caught running");
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM series WHERE metric = 'busy' ORDER BY id LIMIT 25")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let read = store
        .points(&ids, from, from + Days::hours(4))
        .await
        .unwrap();
    assert!(
        read.values().all(|p| p.ts.len() == 4 * 360),
        "every series whole"
    );
    println!("compaction got through after {attempts} attempts and {kills} killed statements");
    db.close().await;
    drop_database(&name).await;
}

/// A sample older than the compaction watermark but within `storage.out_of_order_window` is taken: read at once,
/// rolled up into its minute, and merged into its hour's chunk by the next compaction. One older than the window
/// refuses its whole batch with an error naming the key, and nothing of the batch is stored.
#[tokio::test]
async fn late_samples_join_their_chunks_and_older_ones_are_refused_naming_the_window() {
    use chrono::DurationRound;
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone()).with_out_of_order_window(Duration::from_secs(3600));
    let now = Utc::now();
    let hour = |h: i64| {
        (now - Days::hours(h))
            .duration_trunc(Days::hours(1))
            .unwrap()
    };
    let sample = |series: &str, ts, value| of_series("late", series, ts, value);
    let mut batch = Vec::new();
    for s in ["a", "b"] {
        let mut t = hour(5);
        while t < hour(1) {
            batch.push(sample(s, t, 1.0));
            t += Days::seconds(10);
        }
    }
    store.write(&batch).await.unwrap();
    store.roll_up().await.unwrap();
    store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    let watermark = store.compaction_watermark().await.unwrap().unwrap();
    assert_eq!(watermark, hour(2));

    // 30 minutes behind the watermark: taken, one sample of `a` between two of its compacted ones.
    let late_at = watermark - Days::minutes(30) + Days::seconds(5);
    store.write(&[sample("a", late_at, 50.0)]).await.unwrap();
    // Two hours behind (the window is one): refused whole, naming the key; the fresh sample beside it is not stored.
    let too_late = watermark - Days::hours(2);
    let fresh = now - Days::minutes(1);
    let e = store
        .write(&[sample("b", fresh, 7.0), sample("b", too_late, 7.0)])
        .await
        .unwrap_err();
    let late = e
        .downcast_ref::<mcpulse::store::TooLate>()
        .unwrap_or_else(|| panic!("{e:#}"));
    assert!(
        late.to_string().contains("storage.out_of_order_window"),
        "{late}"
    );
    assert_eq!(late.ts, too_late);
    let fresh_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM samples_in('-infinity', 'infinity') WHERE ts = $1",
    )
    .bind(fresh)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(fresh_rows, 0, "a refused batch stores nothing");

    let id_a: i64 = sqlx::query_scalar("SELECT id FROM series WHERE labels->>'series' = 'a'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let hour_from = late_at.duration_trunc(Days::hours(1)).unwrap();
    let expected: Vec<(i64, f64)> = {
        let mut v: Vec<(i64, f64)> = batch
            .iter()
            .filter(|s| s.labels.get("series").map(String::as_str) == Some("a"))
            .filter(|s| s.ts >= hour_from && s.ts < hour_from + Days::hours(1))
            .map(|s| (s.ts.timestamp_millis(), s.value))
            .collect();
        v.push((late_at.timestamp_millis(), 50.0));
        v.sort_by_key(|p| p.0);
        v
    };
    let read = || async {
        let p = store
            .points(&[id_a], hour_from, hour_from + Days::hours(1))
            .await
            .unwrap();
        let p = p.get(&id_a).cloned().unwrap_or_default();
        p.ts.into_iter().zip(p.values).collect::<Vec<(i64, f64)>>()
    };
    assert_eq!(
        read().await,
        expected,
        "read in time order before the merge"
    );

    // The rollup job folds the late sample into its minute (recomputed from the chunk and the row).
    store.roll_up().await.unwrap();
    let minute = late_at.duration_trunc(Days::minutes(1)).unwrap();
    let (count, sum): (i64, f64) =
        sqlx::query_as("SELECT count, sum FROM rollup_1m WHERE series_id = $1 AND bucket = $2")
            .bind(id_a)
            .bind(minute)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (count, sum),
        (7, 56.0),
        "six compacted samples and the late one"
    );

    // The next compaction merges it: no row is left below the watermark, the chunk holds one sample more.
    let merged = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(merged.samples, 1, "{merged:?}");
    let below: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM samples_in('-infinity', 'infinity') WHERE ts < $1",
    )
    .bind(watermark)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(below, 0);
    let (chunk_count, max): (i32, f64) = sqlx::query_as(
        "SELECT count, max FROM sample_chunks WHERE series_id = $1 AND start_ts = $2",
    )
    .bind(id_a)
    .bind(hour_from)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((chunk_count as usize, max), (expected.len(), 50.0));
    assert_eq!(read().await, expected, "the same samples after the merge");
    db.close().await;
    drop_database(&name).await;
}

/// The query engine answers the same from the chunks as it did from the rows, for every reduction, grouping and
/// resolution (raw buckets decode the chunks; `auto` reads the rollups where they are complete).
#[tokio::test]
async fn queries_answer_the_same_before_and_after_compaction() {
    use chrono::DurationRound;
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    let now = Utc::now();
    let from = (now - Days::hours(6))
        .duration_trunc(Days::hours(1))
        .unwrap();
    let mut batch = Vec::new();
    for s in 0..12 {
        let mut t = from + Days::milliseconds(s * 733);
        let mut v = 10.0 + s as f64;
        let mut i = 0u64;
        while t < now - Days::minutes(5) {
            i += 1;
            v = match s % 3 {
                0 => {
                    ((v + ((i * 7919 + s as u64 * 31) % 401) as f64 / 100.0 - 2.0) * 100.0).round()
                        / 100.0
                }
                1 => v + ((i * 13) % 5) as f64,
                _ => {
                    if i % 97 == 0 {
                        f64::NAN
                    } else {
                        (i % 11) as f64
                    }
                }
            };
            batch.push(Sample {
                metric: "same".parse().unwrap(),
                source: if s % 2 == 0 { "even" } else { "odd" }.parse().unwrap(),
                labels: Labels::from([("series".to_string(), s.to_string())])
                    .try_into()
                    .unwrap(),
                ts: t,
                value: v,
            });
            t += Days::milliseconds(5_000 + ((i * 7_777 + s as u64 * 101) % 10_000) as i64);
        }
    }
    for part in batch.chunks(10_000) {
        store.write(part).await.unwrap();
    }
    store.roll_up().await.unwrap();
    let mut requests = Vec::new();
    for aggregation in [
        "avg", "sum", "min", "max", "count", "last", "rate", "increase",
    ] {
        for group_by in [None, Some("series"), Some("source")] {
            for (step, resolution) in [
                ("30s", "raw"),
                ("90s", "auto"),
                ("5m", "auto"),
                ("5m", "raw"),
            ] {
                requests.push(app::types::QueryRequest {
                    metric: "same".into(),
                    start: Some(from.to_rfc3339()),
                    end: Some(now.to_rfc3339()),
                    step: Some(step.into()),
                    aggregation: Some(aggregation.into()),
                    group_by: group_by.map(Into::into),
                    resolution: Some(resolution.into()),
                    max_points: Some(20_000),
                    ..Default::default()
                });
            }
        }
    }
    let answer = |q: &app::types::QueryRequest| {
        let store = &store;
        let q = mcpulse::store::query::Query::parse(q, now).unwrap();
        async move {
            let r = mcpulse::store::query::run(store, &q).await.unwrap();
            r.series
                .into_iter()
                .map(|s| {
                    let points: Vec<(i64, String)> = s
                        .points
                        .iter()
                        // Sums in another order differ in the last bits; NaN stays NaN.
                        .map(|p| (p.t, format!("{:.9e}", p.v)))
                        .collect();
                    (s.source, s.labels, points)
                })
                .collect::<Vec<_>>()
        }
    };
    let mut before = Vec::new();
    for r in &requests {
        before.push(answer(r).await);
    }
    let done = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert!(done.hours >= 3, "{done:?}");
    // Rates at minute steps read each minute's last sample from the minute rows (an approximation within a few
    // per cent); once compacted, those hours are read from the chunks, exactly: there the answer is the raw one,
    // in the hot hours still the minute rows' (buckets whose 5-minute window straddles the watermark are neither).
    let watermark = store
        .compaction_watermark()
        .await
        .unwrap()
        .unwrap()
        .timestamp_millis();
    let raw_of = |r: &app::types::QueryRequest| {
        requests
            .iter()
            .position(|o| {
                (
                    &o.aggregation,
                    &o.group_by,
                    &o.step,
                    o.resolution.as_deref(),
                ) == (&r.aggregation, &r.group_by, &r.step, Some("raw"))
            })
            .unwrap()
    };
    for (r, before_r) in requests.iter().zip(&before) {
        let after = answer(r).await;
        assert!(!after.is_empty(), "{r:?} answered nothing");
        let minute_rates = matches!(r.aggregation.as_deref(), Some("rate" | "increase"))
            && r.step.as_deref() == Some("5m")
            && r.resolution.as_deref() == Some("auto");
        if !minute_rates {
            assert_eq!(&after, before_r, "{r:?}");
            continue;
        }
        let raw = &before[raw_of(r)];
        let (step, margin) = (300_000, 600_000);
        let part = |series: &[(
            Option<String>,
            std::collections::BTreeMap<String, String>,
            Vec<(i64, String)>,
        )],
                    keep: &dyn Fn(i64) -> bool| {
            series
                .iter()
                .map(|(source, labels, points)| {
                    let points: Vec<_> = points.iter().filter(|(t, _)| keep(*t)).cloned().collect();
                    (source.clone(), labels.clone(), points)
                })
                .collect::<Vec<_>>()
        };
        let compacted = |t: i64| t + step + margin <= watermark;
        let hot = |t: i64| t - margin >= watermark;
        for keep in [&compacted as &dyn Fn(i64) -> bool, &hot] {
            assert!(
                part(&after, keep).iter().any(|(_, _, p)| !p.is_empty()),
                "{r:?}: nothing compared"
            );
        }
        assert_eq!(
            part(&after, &compacted),
            part(raw, &compacted),
            "compacted hours: {r:?}"
        );
        assert_eq!(part(&after, &hot), part(before_r, &hot), "hot hours: {r:?}");
    }
    db.close().await;
    drop_database(&name).await;
}

/// Whole days out of reach of late samples become one chunk per series and day, read back exactly.
#[tokio::test]
async fn days_behind_the_out_of_order_window_merge_into_day_chunks() {
    use chrono::DurationRound;
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    let now = Utc::now();
    let from = now - Days::hours(60);
    let (batch, written) = spread("days", 3, from, now - Days::hours(3), |s, i| {
        (
            Days::milliseconds(20_000 + (i * 7_919 % 20_000)),
            ((i * 31 + s) % 1000) as f64 / 100.0,
        )
    });
    let done = write_and_compact(&store, &batch, now).await;
    let watermark = store.compaction_watermark().await.unwrap().unwrap();
    let merged_until = (watermark - Days::hours(1))
        .duration_trunc(Days::days(1))
        .unwrap();
    let first_day = from.duration_trunc(Days::days(1)).unwrap();
    let expected_days = ((merged_until - first_day).num_days()) as usize;
    assert!(
        expected_days >= 2,
        "60 hours span at least two whole past days"
    );
    assert_eq!(done.days, expected_days, "{done:?}");
    let (day_chunks, hour_chunks_before): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE end_ts - start_ts = interval '1 day'),
                count(*) FILTER (WHERE end_ts - start_ts < interval '1 day' AND start_ts < $1)
         FROM sample_chunks",
    )
    .bind(merged_until)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(day_chunks as usize, 3 * expected_days);
    assert_eq!(
        hour_chunks_before, 0,
        "no hour chunk is left in a merged day"
    );
    let again = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(again.days, 0, "a day is merged once");
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, labels->>'series' FROM series WHERE metric = 'days'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for (lo, hi) in [
        (from, now),
        (
            merged_until - Days::hours(30),
            merged_until + Days::hours(2),
        ),
    ] {
        assert_reads_back(&store, &ids, &written, lo, hi).await;
    }
    db.close().await;
    drop_database(&name).await;
}

/// The current day's hours join its chunk of each series once four of them are out of reach of late samples (and
/// again with the next four), so a day is not kept as hour chunks until midnight; merged hours take no late sample,
/// even under a wider out-of-order window.
#[tokio::test]
async fn the_current_days_hours_merge_into_its_chunks_four_at_a_time() {
    use chrono::DurationRound;
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone());
    let day = (Utc::now() - Days::days(2))
        .duration_trunc(Days::days(1))
        .unwrap();
    let at = |hours: i64, minutes: i64| day + Days::hours(hours) + Days::minutes(minutes);
    let (from, until) = (at(-6, 0), at(28, 0));
    let (batch, mut written) = spread("parts", 3, from, until, |s, i| {
        (
            Days::milliseconds(25_000 + (i * 7_919 % 10_000)),
            ((i * 17 + s) % 2000) as f64 / 100.0 - 3.0,
        )
    });
    let chunks_of_the_day = |db: &Database| {
        let pool = db.pool.clone();
        async move {
            let spans: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT extract(epoch FROM start_ts - $1)::int8 / 3600, extract(epoch FROM end_ts - $1)::int8 / 3600
                 FROM sample_chunks WHERE start_ts >= $1 AND start_ts < $1 + interval '1 day'
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .bind(day)
            .fetch_all(&pool)
            .await
            .unwrap();
            spans
        }
    };
    // Another process that saw nothing compacted yet (and has a wider window) takes samples the merge then passes.
    let stale = Store::new(db.pool.clone()).with_out_of_order_window(Duration::from_secs(5 * 3600));
    let mut write_stale = |series: &str, t: chrono::DateTime<Utc>, v: f64| {
        let w = written.get_mut(series).unwrap();
        w.push((t.timestamp_millis(), v.to_bits()));
        w.sort();
        of_series("parts", series, t, v)
    };
    let first_stale = write_stale("0", at(27, 59), 4.25);
    let late_stale = write_stale("1", at(10, 0) + Days::milliseconds(123), 9.75);
    stale.write(&[first_stale]).await.unwrap();
    // 14:30: compacted until 12:00, nothing after 11:00 is merged (the window is an hour): 00:00–11:00 merges.
    let done = write_and_compact(&store, &batch, at(14, 30)).await;
    assert_eq!((done.days, done.day_parts), (1, 1), "{done:?}");
    assert_eq!(chunks_of_the_day(&db).await, vec![(0, 11), (11, 12)]);
    // Merged hours take no late sample, even for a store whose window reaches further back.
    let wide = Store::new(db.pool.clone()).with_out_of_order_window(Duration::from_secs(5 * 3600));
    let e = wide
        .write(&[of_series("parts", "0", at(10, 0), 1.0)])
        .await
        .unwrap_err();
    let late = e
        .downcast_ref::<mcpulse::store::TooLate>()
        .unwrap_or_else(|| panic!("{e:#}"));
    assert_eq!(late.oldest, at(11, 0));
    // The stale process still takes one in a merged hour (it has not read the watermark since).
    stale.write(&[late_stale]).await.unwrap();
    store.roll_up().await.unwrap();
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, labels->>'series' FROM series WHERE metric = 'parts'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    // 16:30: two more hours out of reach, fewer than four: they stay hour chunks; the late sample gets an hour
    // chunk inside the merged hours, and reads still come back in time order.
    let done = store
        .compact(at(16, 30), Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!((done.days, done.day_parts), (0, 0), "{done:?}");
    assert_eq!(
        chunks_of_the_day(&db).await,
        vec![(0, 11), (10, 11), (11, 12), (12, 13), (13, 14)]
    );
    assert_reads_back(&store, &ids, &written, from, until).await;
    // 18:30: four: the day's chunk takes them.
    let done = store
        .compact(at(18, 30), Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!((done.days, done.day_parts), (0, 1), "{done:?}");
    assert_eq!(chunks_of_the_day(&db).await, vec![(0, 15), (15, 16)]);
    // After midnight, once the day's last hour is out of reach: one chunk per series for the day.
    let done = store
        .compact(at(27, 30), Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(done.days, 1, "{done:?}");
    assert_eq!(chunks_of_the_day(&db).await, vec![(0, 24)]);
    let (chunks, count): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(count)::int8 FROM sample_chunks WHERE start_ts = $1")
            .bind(day)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let expected: usize = written
        .values()
        .map(|w| {
            w.iter()
                .filter(|(t, _)| (day.timestamp_millis()..at(24, 0).timestamp_millis()).contains(t))
                .count()
        })
        .sum();
    assert_eq!((chunks, count as usize), (3, expected));
    assert_reads_back(&store, &ids, &written, from, until).await;
    assert_reads_back(&store, &ids, &written, at(10, 17), at(15, 3)).await;
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn a_merged_day_waits_for_older_snapshots_and_leaves_no_dead_space() {
    use chrono::DurationRound;
    let (db, name) = open().await;
    // A wide out-of-order window keeps compaction from merging days itself: the test merges them.
    let store =
        Store::new(db.pool.clone()).with_out_of_order_window(Duration::from_secs(5 * 86400));
    let now = Utc::now();
    let from = now - Days::hours(60);
    let (batch, written) = spread("merging", 2, from, now - Days::hours(3), |_, i| {
        (Days::seconds(15), (i % 977) as f64 / 4.0)
    });
    let done = write_and_compact(&store, &batch, now).await;
    assert_eq!(done.days, 0, "{done:?}");
    let until = now.duration_trunc(Days::days(1)).unwrap();
    let days = (until - from.duration_trunc(Days::days(1)).unwrap()).num_days() as usize;
    assert!(days >= 2);

    // A snapshot taken before the merge keeps the hour chunks it sees until it ends.
    let mut old = db.pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *old)
        .await
        .unwrap();
    let total =
        "SELECT coalesce(sum(count), 0)::int8, count(*) FROM sample_chunks WHERE start_ts < $1";
    let (seen, hour_chunks): (i64, i64) = sqlx::query_as(total)
        .bind(until)
        .fetch_one(&mut *old)
        .await
        .unwrap();
    let waiting = store.merge_days(until).await.unwrap();
    assert_eq!(
        waiting.days, 0,
        "swapped in under a running older snapshot: {waiting:?}"
    );
    let (still, _): (i64, i64) = sqlx::query_as(total)
        .bind(until)
        .fetch_one(&mut *old)
        .await
        .unwrap();
    assert_eq!(still, seen, "the older snapshot still reads every sample");
    old.commit().await.unwrap();

    let merged = store.merge_days(until).await.unwrap();
    assert_eq!(merged.days, days, "{merged:?}");
    let (after, day_chunks): (i64, i64) = sqlx::query_as(total)
        .bind(until)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(after, seen, "the merged days hold every sample");
    assert_eq!(
        day_chunks as usize,
        2 * days,
        "one chunk per series and day (were {hour_chunks})"
    );
    let left: Vec<String> =
        sqlx::query_scalar("SELECT relname::text FROM pg_class WHERE relname LIKE '%_merged%'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(left.is_empty(), "{left:?}");
    // The merged days' partitions hold their day chunks and nothing else: no dead hour chunks.
    let heaps: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'sample_chunks'::regclass AND c.relname < $1 ORDER BY 1",
    )
    .bind(format!("sample_chunks_p{}", until.format("%Y%m%d")))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(heaps.len(), days);
    for (partition, bytes) in heaps {
        assert!(
            bytes <= 8192,
            "{partition}: {bytes} bytes of heap for two rows"
        );
    }
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, labels->>'series' FROM series WHERE metric = 'merging'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_reads_back(&store, &ids, &written, from, now).await;
    assert_reads_back(
        &store,
        &ids,
        &written,
        until - Days::hours(30),
        until + Days::hours(1),
    )
    .await;
    assert_eq!(
        store.merge_days(until).await.unwrap().days,
        0,
        "a day is merged once"
    );
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn emptied_hours_are_dropped_once_no_snapshot_can_still_read_them() {
    use chrono::DurationRound;
    let (db, name) = open().await;
    let store = Store::new(db.pool.clone()).with_out_of_order_window(Duration::from_secs(3600));
    let now = Utc::now();
    let hour = |h: i64| {
        (now - Days::hours(h))
            .duration_trunc(Days::hours(1))
            .unwrap()
    };
    let from = hour(5);
    let mut batch = Vec::new();
    let mut written: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for (k, s) in ["a", "b"].into_iter().enumerate() {
        let mut t = from;
        while t < now - Days::minutes(1) {
            let value = (t.timestamp() % 97) as f64 / 4.0 + k as f64;
            batch.push(of_series("emptied", s, t, value));
            written
                .entry(s.to_string())
                .or_default()
                .push((t.timestamp_millis(), value.to_bits()));
            t += Days::seconds(10);
        }
    }
    store.write(&batch).await.unwrap();
    store.roll_up().await.unwrap();
    let partitions = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname LIKE 'samples_p%' ORDER BY 1",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
    };
    let name_of = |t: chrono::DateTime<Utc>| format!("samples_p{}", t.format("%Y%m%d%H"));
    assert!(
        partitions().await.contains(&name_of(from)),
        "{:?}",
        partitions().await
    );

    // A reader whose snapshot was taken before compaction and who reads the rows after it. (It touches no
    // partitioned table before: compaction creates chunk partitions, which waits for their table's readers.)
    let mut reader = db.pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *reader)
        .await
        .unwrap();
    let series_seen: i64 = sqlx::query_scalar("SELECT count(*) FROM series")
        .fetch_one(&mut *reader)
        .await
        .unwrap();
    assert_eq!(series_seen, 2);
    let done = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(store.compaction_watermark().await.unwrap(), Some(hour(2)));
    assert!(done.samples > 0, "{done:?}");
    assert_eq!(
        done.partitions, 0,
        "a snapshot from before the rows were taken is still running"
    );
    let rows_seen: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM samples_in('-infinity', 'infinity') WHERE ts < $1",
    )
    .bind(hour(3))
    .fetch_one(&mut *reader)
    .await
    .unwrap();
    assert_eq!(
        rows_seen,
        2 * 2 * 360,
        "the old snapshot still reads the rows of the two hours behind the window"
    );
    reader.commit().await.unwrap();

    let done = store
        .compact(now, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(
        done.partitions, 2,
        "the two emptied hours behind the out-of-order window"
    );
    let left = partitions().await;
    for h in [5, 4] {
        assert!(!left.contains(&name_of(hour(h))), "{left:?}");
    }
    for h in [3, 2, 1, 0] {
        assert!(left.contains(&name_of(hour(h))), "{left:?}");
    }
    // The next hour is there before anything is written to it.
    assert!(left.contains(&name_of(hour(-1))), "{left:?}");

    // A late sample still within the window lands in its (kept) partition; everything reads back.
    let late_at = hour(2) - Days::minutes(30) + Days::seconds(5);
    store
        .write(&[of_series("emptied", "a", late_at, 0.5)])
        .await
        .unwrap();
    let a = written.get_mut("a").unwrap();
    a.push((late_at.timestamp_millis(), 0.5f64.to_bits()));
    a.sort_by_key(|p| p.0);
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, labels->>'series' FROM series WHERE metric = 'emptied'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_reads_back(&store, &ids, &written, from, now).await;
    db.close().await;
    drop_database(&name).await;
}
