//! Benchmarks that print figures, each against a baseline measured in the same run on the same PostgreSQL. Each
//! creates a scratch database next to the configured one (so `database.url` must name a role that may create
//! databases), runs an in-process mcpulse on it on a random port, and drops it afterwards.
//!
//! - `mcpulse-bench ingest`: end-to-end push ingest (HTTP, token check, Prometheus-text decoding, validation, series
//!   lookup, the durable write) from `concurrency` clients against raw `COPY … (FORMAT binary)` of the same rows into
//!   an identically indexed table.
//! - `mcpulse-bench query`: `GET /api/timeseries` from raw samples and from the rollup tiers against the bare
//!   `date_bin` SQL over raw samples for the same buckets.
//! - `mcpulse-bench storage`: bytes per stored sample (heap + indexes, and the rollup tiers' share) and resident
//!   memory per active series.
//! - `mcpulse-bench report`: time and peak memory to generate a 7-day report over 100 series in every format,
//!   against the same report over one day.
//! - `mcpulse-bench probes`: CPU time and resident memory of 100 MCP probes (Streamable HTTP, 10 s interval,
//!   storing every round) against the same process idle; the probed server is a child process, not counted.

use anyhow::Context;
use mcpulse::auth::tokens::{Scope, Tokens};
use mcpulse::config::Config;
use mcpulse::db::{ClusterOwnership, Database};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scratch database next to the configured one, with an in-process mcpulse serving it on a random port.
struct Scratch {
    admin: PgConnection,
    name: String,
    pool: sqlx::PgPool,
    running: mcpulse::serve::Running,
}

impl Scratch {
    async fn start(config: &Config) -> anyhow::Result<Scratch> {
        let admin_url = config.database.url.clone().context(
            "the benchmark needs database.url (DATABASE_URL) naming a PostgreSQL role that may create databases",
        )?;
        let name = format!("mcpulse_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .context("connecting to database.url")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let mut url = url::Url::parse(&admin_url)?;
        url.set_path(&name);

        let mut config = config.clone();
        config.database.url = Some(url.to_string());
        config.server.port = 0;
        config.server.bind = std::net::IpAddr::from([127, 0, 0, 1]);
        config.collection.sources.clear();
        let database = Database::open(&config, ClusterOwnership::Guest).await?;
        let pool = database.pool.clone();
        let running =
            mcpulse::serve::start(config, database, tokio_util::sync::CancellationToken::new())
                .await?;
        Ok(Scratch {
            admin,
            name,
            pool,
            running,
        })
    }

    /// Stops the server and drops the scratch database.
    async fn finish(mut self) -> anyhow::Result<()> {
        self.running.shutdown.cancel();
        self.running.done.await??;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.admin)
        .await?;
        Ok(())
    }
}

pub struct IngestBench {
    pub series: usize,
    pub batches: usize,
    pub batch_size: usize,
    pub concurrency: usize,
}

pub async fn ingest(config: &Config, bench: IngestBench) -> anyhow::Result<()> {
    let scratch = Scratch::start(config).await?;
    let result = run_ingest(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_ingest(scratch: &Scratch, bench: &IngestBench) -> anyhow::Result<()> {
    let (pool, addr) = (scratch.pool.clone(), scratch.running.addr);
    let (_, token) = Tokens::new(pool.clone())
        .create("bench", &[Scope::Ingest], None, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let total = bench.batches * bench.batch_size;
    let base_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    // Rows: series i % series, one millisecond apart, so every row is distinct.
    let row = |n: usize| -> (usize, i64, f64) {
        (n % bench.series, base_ms + n as i64, (n % 1000) as f64)
    };
    let bodies: Vec<String> = (0..bench.batches)
        .map(|b| {
            let mut body = String::with_capacity(bench.batch_size * 48);
            for k in 0..bench.batch_size {
                let (s, ts, v) = row(b * bench.batch_size + k);
                body.push_str(&format!("bench_metric{{series=\"s{s}\"}} {v} {ts}\n"));
            }
            body
        })
        .collect();
    println!(
        "ingest benchmark: {total} samples in {} batches of {} over {} series, {} concurrent clients",
        bench.batches, bench.batch_size, bench.series, bench.concurrency
    );

    // Warm-up: creates the series and the partition, so both sides then append only.
    let client = reqwest::Client::new();
    let endpoint = format!("http://{}/api/v1/ingest?source=bench", addr);
    post(&client, &endpoint, &token, bodies[0].clone()).await?;
    sqlx::query("TRUNCATE samples").execute(&pool).await?;

    let started = Instant::now();
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(bodies.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..bench.concurrency {
        let (queue, client, endpoint, token) = (
            queue.clone(),
            client.clone(),
            endpoint.clone(),
            token.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(body) = queue.lock().await.next() else {
                    break;
                };
                let t = Instant::now();
                post(&client, &endpoint, &token, body).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM samples_in('-infinity', 'infinity') JOIN series ON series.id = series_id WHERE series.source = 'bench'")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        stored as usize == total,
        "stored {stored} samples, expected {total}"
    );
    latencies.sort();
    let pct = |p: f64| percentile(&latencies, p);

    // Baseline: the same rows, COPY BINARY into an identically indexed plain table.
    sqlx::query("CREATE TABLE bench_copy (series_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, value DOUBLE PRECISION NOT NULL)")
        .execute(&pool)
        .await?;
    for index in [
        "CREATE INDEX ON bench_copy (series_id, ts)",
        "CREATE INDEX ON bench_copy USING brin (ts)",
    ] {
        sqlx::query(index).execute(&pool).await?;
    }
    // The same rows, encoded up front as the ingest bodies were, sent by as many clients as the ingest side used.
    let mut copies = Vec::with_capacity(bench.batches);
    for b in 0..bench.batches {
        let mut ids = Vec::with_capacity(bench.batch_size);
        let mut ts = Vec::with_capacity(bench.batch_size);
        let mut values = Vec::with_capacity(bench.batch_size);
        for k in 0..bench.batch_size {
            let (s, t, v) = row(b * bench.batch_size + k);
            ids.push(s as i64);
            ts.push(chrono::DateTime::from_timestamp_millis(t).context("timestamp")?);
            values.push(v);
        }
        copies.push(mcpulse::store::copy_binary(&ids, &ts, &values));
    }
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(copies.into_iter()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..bench.concurrency {
        let (queue, pool) = (queue.clone(), pool.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            loop {
                let Some(data) = queue.lock().await.next() else {
                    break;
                };
                let mut tx = conn.begin().await?;
                let mut copy = tx
                    .copy_in_raw("COPY bench_copy FROM STDIN (FORMAT binary)")
                    .await?;
                copy.send(data).await?;
                copy.finish().await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let copy_secs = started.elapsed().as_secs_f64();

    let ingest_rate = total as f64 / ingest_secs;
    let copy_rate = total as f64 / copy_secs;
    println!("  POST /api/v1/ingest : {:>10.0} samples/s  ({ingest_secs:.2} s)  ack latency p50 {:.1} ms, p99 {:.1} ms",
        ingest_rate, pct(0.5).as_secs_f64() * 1000.0, pct(0.99).as_secs_f64() * 1000.0);
    println!("  raw COPY BINARY     : {:>10.0} samples/s  ({copy_secs:.2} s, {} clients, one transaction per batch)", copy_rate, bench.concurrency);
    println!(
        "  ratio ingest / COPY : {:.2}x  (target >= 0.70x)",
        ingest_rate / copy_rate
    );

    Ok(())
}

async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    body: String,
) -> anyhow::Result<()> {
    let res = client
        .post(endpoint)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        res.status().is_success(),
        "ingest answered {}: {}",
        res.status(),
        res.text().await.unwrap_or_default()
    );
    Ok(())
}

pub struct QueryBench {
    pub series: usize,
    pub points: usize,
    pub buckets: usize,
    pub runs: usize,
}

/// `mcpulse-bench query`: `GET /api/timeseries` (HTTP, session check, parsing, the query engine, JSON) against the bare
/// hand-written `date_bin` SQL on the same data, alternating runs in one process; prints p50/p95 and the ratio.
pub async fn query(config: &Config, bench: QueryBench) -> anyhow::Result<()> {
    let scratch = Scratch::start(config).await?;
    let result = run_query(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_query(scratch: &Scratch, bench: &QueryBench) -> anyhow::Result<()> {
    let (pool, addr) = (scratch.pool.clone(), scratch.running.addr);

    // Data: `series` series of `points` samples, 10 s apart, ending a minute ago.
    let step_secs = 10i64;
    let end = chrono::Utc::now() - chrono::Duration::minutes(1);
    let start = end - chrono::Duration::seconds(step_secs * bench.points as i64);
    println!(
        "query benchmark: {} series × {} points, {} buckets per series, {} runs each",
        bench.series, bench.points, bench.buckets, bench.runs
    );
    let store = mcpulse::store::Store::new(pool.clone());
    let mut batch = Vec::with_capacity(50_000);
    for p in 0..bench.points {
        for s in 0..bench.series {
            batch.push(mcpulse::store::Sample {
                metric: "bench_query".parse().unwrap(),
                source: "bench".parse().unwrap(),
                labels: mcpulse::store::LabelSet::from_pairs([(
                    "series".to_string(),
                    format!("s{s}"),
                )])
                .unwrap(),
                ts: start + chrono::Duration::seconds(step_secs * p as i64),
                value: ((p * 7 + s) % 1000) as f64,
            });
            if batch.len() == 50_000 {
                store.write(&batch).await?;
                batch.clear();
            }
        }
    }
    store.write(&batch).await?;

    // A session for the REST side.
    let users = mcpulse::auth::Users::new(pool.clone());
    let password = "bench-password-123";
    users
        .create(
            &mcpulse::auth::Username::parse("bench")?,
            mcpulse::auth::NewPassword::parse(password)?,
            app::types::Role::Viewer,
        )
        .await?;
    let client = reqwest::Client::new();
    let base = format!("http://{}", addr);
    let login = client
        .post(format!("{base}/api/fn/login"))
        .form(&[("username", "bench"), ("password", password)])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie from sign-in")?
        .to_string();

    store.roll_up().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;

    let per_series = "SELECT s.id, date_bin(make_interval(secs => $1), x.ts, 'epoch'::timestamptz) AS b, avg(x.value)
               FROM samples_in($2, $3) x JOIN series s ON s.id = x.series_id
               WHERE s.metric = 'bench_query' GROUP BY 1, 2 ORDER BY 1, 2";
    let one_line = "SELECT 0::bigint, date_bin(make_interval(secs => $1), x.ts, 'epoch'::timestamptz) AS b, avg(x.value)
               FROM samples_in($2, $3) x JOIN series s ON s.id = x.series_id
               WHERE s.metric = 'bench_query' GROUP BY 1, 2 ORDER BY 1, 2";
    let pct = |v: &[Duration], p: f64| percentile(v, p).as_secs_f64() * 1000.0;
    let mut raw_p50 = 0.0;
    // Every series (the engine's overhead, then as users get it), and the one averaged line a dashboard panel shows.
    for (resolution, group_by) in [("raw", "series"), ("auto", "series"), ("auto", "")] {
        let sql = if group_by.is_empty() {
            one_line
        } else {
            per_series
        };
        let api = format!(
            "{base}/api/timeseries?metric=bench_query&start={}&end={}&aggregator=avg&group_by={group_by}&max_points={}&resolution={resolution}",
            start.timestamp(),
            end.timestamp(),
            bench.buckets
        );
        let mut api_times = Vec::new();
        let mut sql_times = Vec::new();
        for run in 0..bench.runs + 2 {
            let t = Instant::now();
            let res = client
                .get(&api)
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await?;
            anyhow::ensure!(
                res.status().is_success(),
                "timeseries answered {}",
                res.status()
            );
            let body: app::types::QueryResult = serde_json::from_slice(&res.bytes().await?)?;
            let api_elapsed = t.elapsed();
            let points_seen: usize = body.series.iter().map(|s| s.points.len()).sum();

            // The same buckets straight from raw samples.
            let t = Instant::now();
            let rows: Vec<(i64, chrono::DateTime<chrono::Utc>, Option<f64>)> = sqlx::query_as(sql)
                .bind(body.step_ms as f64 / 1000.0)
                .bind(body.start)
                .bind(body.end)
                .fetch_all(&pool)
                .await?;
            let sql_elapsed = t.elapsed();
            anyhow::ensure!(
                rows.len() == points_seen,
                "the API returned {points_seen} points, bare SQL {}",
                rows.len()
            );
            if run == 0 {
                println!(
                    "\n  resolution={resolution}, group_by={group_by:?}: step {} s, {} points per answer, served from `{}`",
                    body.step_ms / 1000,
                    points_seen,
                    body.resolution
                );
            }
            // The first two rounds warm caches on both sides.
            if run >= 2 {
                api_times.push(api_elapsed);
                sql_times.push(sql_elapsed);
            }
        }
        api_times.sort();
        sql_times.sort();
        println!(
            "  GET /api/timeseries : p50 {:>7.1} ms  p95 {:>7.1} ms",
            pct(&api_times, 0.5),
            pct(&api_times, 0.95)
        );
        println!(
            "  bare date_bin SQL   : p50 {:>7.1} ms  p95 {:>7.1} ms  (raw samples)",
            pct(&sql_times, 0.5),
            pct(&sql_times, 0.95)
        );
        let ratio = pct(&api_times, 0.5) / pct(&sql_times, 0.5);
        if resolution == "raw" {
            raw_p50 = pct(&api_times, 0.5);
            println!("  ratio (p50)         : {ratio:.2}x  (target <= 1.20x)");
        } else if group_by == "series" {
            println!(
                "  ratio (p50)         : {ratio:.2}x bare SQL, {:.2}x the raw API path  (target: p95 <= 25 ms)",
                pct(&api_times, 0.5) / raw_p50
            );
        } else {
            println!("  ratio (p50)         : {ratio:.2}x bare SQL  (target: p95 <= 25 ms)");
        }
    }

    Ok(())
}

pub struct StorageBench {
    pub samples: usize,
    pub series: usize,
    pub active_series: usize,
}

/// `mcpulse-bench storage`: bytes per stored sample (heap and indexes of the sample partitions, and of the rollup
/// tiers) after writing `samples` samples, and resident memory per active series after writing `active_series`
/// distinct series through the same write path.
pub async fn storage(config: &Config, bench: StorageBench) -> anyhow::Result<()> {
    let scratch = Scratch::start(config).await?;
    let result = run_storage(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_storage(scratch: &Scratch, bench: &StorageBench) -> anyhow::Result<()> {
    let pool = scratch.pool.clone();
    let now = chrono::Utc::now();

    // Memory first, before large batches have grown the allocator's heap.
    let store = mcpulse::store::Store::with_series_limit(pool.clone(), usize::MAX);
    let sample = |n: usize| mcpulse::store::Sample {
        metric: "bench_active".parse().unwrap(),
        source: format!("bench-{}", n % 16).parse().unwrap(),
        labels: mcpulse::store::LabelSet::from_pairs([
            ("instance".to_string(), format!("host-{:06}", n)),
            ("job".to_string(), "mcp".to_string()),
        ])
        .unwrap(),
        ts: now - chrono::Duration::seconds(60),
        value: n as f64,
    };
    let before = resident_bytes();
    for round in 0..2 {
        for chunk in (0..bench.active_series).collect::<Vec<_>>().chunks(10_000) {
            let batch: Vec<_> = chunk
                .iter()
                .map(|n| {
                    let mut s = sample(*n);
                    s.ts += chrono::Duration::seconds(round);
                    s
                })
                .collect();
            store.write(&batch).await?;
        }
    }
    let after = resident_bytes();
    println!(
        "storage benchmark\n\n  active series       : {} (two rounds of one sample each, 2 labels per series)",
        bench.active_series
    );
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "  RSS                 : {:.1} MiB before, {:.1} MiB after: {:.0} bytes per active series",
            b as f64 / 1048576.0,
            a as f64 / 1048576.0,
            a.saturating_sub(b) as f64 / bench.active_series as f64
        ),
        _ => println!("  RSS                 : not available on this system (/proc/self/status)"),
    }
    drop(store);

    // Disk: `samples` samples over `series` series, 10 s apart, through the real write path.
    let store = mcpulse::store::Store::new(pool.clone());
    let points = bench.samples.div_ceil(bench.series);
    let start = now - chrono::Duration::seconds(10 * points as i64 + 60);
    let mut batch = Vec::with_capacity(50_000);
    let mut written = 0usize;
    let t = Instant::now();
    'outer: for p in 0..points {
        for s in 0..bench.series {
            if written == bench.samples {
                break 'outer;
            }
            batch.push(mcpulse::store::Sample {
                metric: "bench_disk".parse().unwrap(),
                source: "bench".parse().unwrap(),
                labels: mcpulse::store::LabelSet::from_pairs([(
                    "series".to_string(),
                    format!("s{s}"),
                )])
                .unwrap(),
                ts: start + chrono::Duration::seconds(10 * p as i64),
                value: ((p * 7 + s) % 1000) as f64 * 0.25,
            });
            written += 1;
            if batch.len() == 50_000 {
                store.write(&batch).await?;
                batch.clear();
            }
        }
    }
    store.write(&batch).await?;
    let write_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    store.roll_up().await?;
    let rollup_secs = t.elapsed().as_secs_f64();
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;

    let sizes = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::bigint,
                        coalesce(sum(pg_indexes_size(c.oid)), 0)::bigint,
                        coalesce(sum(c.reltuples), 0)::bigint
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname = $1",
            )
            .bind(table)
            .fetch_one(&pool)
            .await
        }
    };
    let (heap, index, _) = sizes("samples").await?;
    let n = written as f64;
    println!(
        "\n  samples written     : {written} over {} series ({:.0} samples/s through Store::write, rollup job {:.1} s)",
        bench.series,
        n / write_secs,
        rollup_secs
    );
    println!(
        "  samples             : heap {:.1} + indexes {:.1} = {:.1} bytes per sample ({:.0} MiB; the row's payload is 24 bytes)",
        heap as f64 / n,
        index as f64 / n,
        (heap + index) as f64 / n,
        (heap + index) as f64 / 1048576.0
    );
    for table in ["rollup_1m", "rollup_1h"] {
        let (heap, index, rows) = sizes(table).await?;
        println!(
            "  {table:<19} : {rows} rows, {:.1} MiB = {:.2} bytes per raw sample",
            (heap + index) as f64 / 1048576.0,
            (heap + index) as f64 / n
        );
    }
    Ok(())
}

/// The `p` quantile (0–1) of `sorted`, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// This process's resident set size, from `/proc/self/status`.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub struct AlertBench {
    pub rules: usize,
    pub series: usize,
    pub rounds: usize,
}

/// `mcpulse-bench alerts`: threshold evaluations per second (every rule over every series, straight through
/// `Alerting::evaluate`), and the latency from a stored sample to its notification reaching a webhook receiver
/// (evaluation right after the write, outbox, dispatcher, HTTP).
pub async fn alerts(config: &Config, bench: AlertBench) -> anyhow::Result<()> {
    let mut config = config.clone();
    // The bench drives evaluation itself.
    config.alerts.enabled = false;
    let scratch = Scratch::start(&config).await?;
    let result = run_alerts(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_alerts(scratch: &Scratch, bench: &AlertBench) -> anyhow::Result<()> {
    use mcpulse::alert::notify::AllowList;
    use mcpulse::alert::Alerting;
    let pool = scratch.pool.clone();
    let store = mcpulse::store::Store::new(pool.clone());
    let now = chrono::Utc::now();
    // Every series gets a sample a second for the last two minutes, so windowed reductions have work to do.
    let mut batch = Vec::new();
    for s in 0..bench.series {
        for k in 0..120 {
            batch.push(mcpulse::store::Sample {
                metric: "bench_alert".parse().unwrap(),
                source: "bench".parse().unwrap(),
                labels: mcpulse::store::LabelSet::from_pairs([(
                    "series".to_string(),
                    format!("s{s}"),
                )])
                .unwrap(),
                ts: now - chrono::Duration::seconds(120 - k),
                value: ((s * 7 + k as usize) % 100) as f64,
            });
        }
    }
    store.write(&batch).await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    let alerting = Arc::new(Alerting::new(
        pool.clone(),
        AllowList(vec!["127.0.0.1".into()]),
        Duration::from_secs(3600),
        // Latency is measured without a group wait (it would add itself in full).
        mcpulse::alert::notify::Grouping {
            wait: Duration::ZERO,
            ..Default::default()
        },
    )?);
    println!(
        "alert benchmark: {} rules × {} series, {} rounds each",
        bench.rules, bench.series, bench.rounds
    );
    for reduce in ["last", "avg"] {
        sqlx::query("DELETE FROM alert_rules")
            .execute(&pool)
            .await?;
        for r in 0..bench.rules {
            let draft = app::types::RuleDraft {
                name: format!("rule {r}"),
                metric: "bench_alert".into(),
                condition: ">".into(),
                threshold: format!("{}", 50 + r % 50),
                for_: "1h".into(),
                reduce: reduce.into(),
                window: "1m".into(),
                ..Default::default()
            };
            alerting
                .create_rule(&draft, "bench")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let t = Instant::now();
        let mut evaluations = 0;
        for _ in 0..bench.rounds {
            let done = alerting.evaluate(chrono::Utc::now()).await?;
            evaluations += done.series;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  reduce={reduce:<4}: {:>9.0} threshold evaluations/s ({evaluations} in {secs:.2} s; {:.1} ms per round)",
            evaluations as f64 / secs,
            secs * 1000.0 / bench.rounds as f64
        );
    }

    // Latency: a receiver on loopback, one rule, alternating values so every round fires or resolves.
    sqlx::query("DELETE FROM alert_rules")
        .execute(&pool)
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await });
    alerting
        .contact_points
        .create(
            &app::types::ContactPointDraft {
                name: "bench".into(),
                url: hook,
                ..Default::default()
            },
            "bench",
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let draft = app::types::RuleDraft {
        name: "latency".into(),
        metric: "bench_latency".into(),
        condition: ">".into(),
        threshold: "100".into(),
        ..Default::default()
    };
    // A new series each round, so no alert flaps (which would hold its notices back).
    let sample = |round: usize, value: f64| mcpulse::store::Sample {
        metric: "bench_latency".parse().unwrap(),
        source: "bench".parse().unwrap(),
        labels: mcpulse::store::LabelSet::from_pairs([("round".to_string(), round.to_string())])
            .unwrap(),
        ts: chrono::Utc::now(),
        value,
    };
    store.write(&[sample(0, 0.0)]).await?;
    alerting
        .create_rule(&draft, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stop = tokio_util::sync::CancellationToken::new();
    let dispatcher = tokio::spawn(alerting.dispatcher.clone().run(stop.clone()));
    let mut latencies = Vec::new();
    for round in 0..bench.rounds.max(20) {
        let t = Instant::now();
        store.write(&[sample(round, 500.0)]).await?;
        let done = alerting.evaluate(chrono::Utc::now()).await?;
        anyhow::ensure!(done.notices == 1, "round {round}: {done:?}");
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await?
            .context("the receiver stopped")?;
        latencies.push(got - t);
    }
    stop.cancel();
    let _ = dispatcher.await;
    server.abort();
    latencies.sort();
    let pct = |p: f64| percentile(&latencies, p).as_secs_f64() * 1000.0;
    println!(
        "\n  sample stored → notification received: p50 {:.1} ms, p99 {:.1} ms over {} notifications (target p99 <= 100 ms;\n  in service add up to one alerts.interval of waiting for the next evaluation)",
        pct(0.5),
        pct(0.99),
        latencies.len()
    );
    Ok(())
}

pub struct LiveBench {
    pub clients: usize,
    pub messages: usize,
    /// Pause between pushes.
    pub every: Duration,
}

/// Websocket fan-out: `clients` signed-in browsers' websockets on `/ws`; a pusher sends `messages` samples through
/// push ingest, each published to every client. Delivery latency is measured from the moment the push is sent
/// (so it includes the ingest commit) to the moment each client has read the message.
pub async fn live(config: &Config, bench: LiveBench) -> anyhow::Result<()> {
    let mut config = config.clone();
    // Only the pushed source publishes; `self` every hour keeps its rounds out of the way.
    config.collection.interval = Duration::from_secs(3600);
    let scratch = Scratch::start(&config).await?;
    let result = run_live(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_live(scratch: &Scratch, bench: &LiveBench) -> anyhow::Result<()> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (pool, addr) = (scratch.pool.clone(), scratch.running.addr);
    let (_, token) = Tokens::new(pool.clone())
        .create("bench-live", &[Scope::Ingest], None, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = "bench-live-password";
    mcpulse::auth::Users::new(pool.clone())
        .create(
            &mcpulse::auth::Username::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?,
            mcpulse::auth::NewPassword::parse(password).map_err(|e| anyhow::anyhow!("{e}"))?,
            app::types::Role::Viewer,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("http://{addr}/api/fn/login"))
        .form(&[("username", "bench"), ("password", password)])
        .send()
        .await?;
    anyhow::ensure!(
        login.status().is_success(),
        "sign-in failed: {}",
        login.status()
    );
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_string();

    println!(
        "live fan-out benchmark: {} websocket clients, {} pushed messages every {:?}",
        bench.clients, bench.messages, bench.every
    );
    // Sent times by sequence number, read by every client.
    let sent: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; bench.messages]));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Vec<Duration>)>();
    let connected = Arc::new(tokio::sync::Barrier::new(bench.clients + 1));
    let rss_before = resident_bytes();
    for c in 0..bench.clients {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request.headers_mut().insert("cookie", cookie.parse()?);
        let (sent, tx, connected, messages) =
            (sent.clone(), tx.clone(), connected.clone(), bench.messages);
        // Long enough for every push plus a generous delivery margin, counted from when all clients are connected.
        let patience = bench.every * bench.messages as u32 + Duration::from_secs(30);
        tokio::spawn(async move {
            let socket = tokio_tungstenite::connect_async(request).await;
            connected.wait().await;
            let Ok((mut socket, _)) = socket else {
                let _ = tx.send((c, Vec::new()));
                return;
            };
            let mut latencies = Vec::with_capacity(messages);
            let deadline = tokio::time::sleep(patience);
            tokio::pin!(deadline);
            while latencies.len() < messages {
                let message = tokio::select! {
                    _ = &mut deadline => break,
                    m = socket.next() => m,
                };
                let Some(Ok(message)) = message else { break };
                let received = Instant::now();
                let Ok(text) = message.into_text() else {
                    continue;
                };
                let Ok(app::types::LiveMessage::Samples(s)) = serde_json::from_str(&text) else {
                    continue;
                };
                if s.source != "bench-live" {
                    continue;
                }
                let Some(seq) = s
                    .values
                    .iter()
                    .find(|(m, _)| m == "bench_seq")
                    .map(|(_, v)| *v as usize)
                else {
                    continue;
                };
                let at = sent
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(seq)
                    .copied()
                    .flatten();
                if let Some(at) = at {
                    latencies.push(received.saturating_duration_since(at));
                }
            }
            let _ = tx.send((c, latencies));
        });
    }
    drop(tx);
    connected.wait().await;
    let rss_connected = resident_bytes();
    let endpoint = format!("http://{addr}/api/v1/ingest?source=bench-live");
    // Warm-up: creates the series, so every measured push is a plain append.
    post(&http, &endpoint, &token, "bench_warmup 1\n".into()).await?;
    let mut acks = Vec::with_capacity(bench.messages);
    for seq in 0..bench.messages {
        tokio::time::sleep(bench.every).await;
        let t = Instant::now();
        sent.lock().unwrap_or_else(|e| e.into_inner())[seq] = Some(t);
        post(&http, &endpoint, &token, format!("bench_seq {seq}\n")).await?;
        acks.push(t.elapsed());
    }
    let mut all = Vec::with_capacity(bench.clients * bench.messages);
    let mut complete = 0;
    while let Some((_, latencies)) = rx.recv().await {
        if latencies.len() == bench.messages {
            complete += 1;
        }
        all.extend(latencies);
    }
    all.sort();
    acks.sort();
    anyhow::ensure!(!all.is_empty(), "no client received anything");
    println!(
        "  delivered {} of {} messages; {complete} of {} clients got every one",
        all.len(),
        bench.clients * bench.messages,
        bench.clients
    );
    println!(
        "  push sent → client has it: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (push ack alone: p50 {:.1} ms)",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap()),
        ms(percentile(&acks, 0.5)),
    );
    if let (Some(a), Some(b)) = (rss_before, rss_connected) {
        println!(
            "  resident memory for {} connected clients (both ends in this process): {:.1} MiB → {:.1} MiB",
            bench.clients,
            a as f64 / 1048576.0,
            b as f64 / 1048576.0
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub struct ReportBench {
    pub series: usize,
    pub days: u32,
    pub interval_secs: u32,
}

/// `mcpulse-bench report`: generates a report of `days` days over `series` series (samples every
/// `interval_secs`, 10 sources with their `up`) in HTML (with a chart), JSON and CSV, and prints the time it takes
/// — reading the numbers, rendering each format, storing — and the process's peak resident memory while doing it,
/// against the same report over one day as the baseline.
pub async fn report(config: &Config, bench: ReportBench) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.reports.enabled = false;
    config.alerts.enabled = false;
    let scratch = Scratch::start(&config).await?;
    let result = run_report(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_report(scratch: &Scratch, bench: &ReportBench) -> anyhow::Result<()> {
    use chrono::DurationRound;
    use mcpulse::report::{data, render, Reports, Retention};
    let pool = scratch.pool.clone();
    let store = Arc::new(mcpulse::store::Store::with_series_limit(
        pool.clone(),
        usize::MAX,
    ));
    let end = chrono::Utc::now().duration_trunc(chrono::Duration::minutes(1))?;
    let start = end - chrono::Duration::days(bench.days as i64);
    let step = chrono::Duration::seconds(bench.interval_secs.max(1) as i64);
    let points = (end - start).num_seconds() / step.num_seconds();
    println!(
        "report benchmark: {} series over {} days, a sample every {} s ({} samples), 10 sources",
        bench.series,
        bench.days,
        bench.interval_secs,
        points as usize * bench.series
    );
    let written = Instant::now();
    let mut batch = Vec::with_capacity(200_000);
    for k in 0..points {
        let ts = start + step * k as i32;
        for s in 0..bench.series {
            // A daily wave plus per-series offset and noise-like variation: numbers worth summarising.
            let phase = (k as f64 / (86_400.0 / step.num_seconds() as f64)) * std::f64::consts::TAU;
            batch.push(mcpulse::store::Sample {
                metric: "bench_latency_ms".parse().unwrap(),
                source: format!("mcp-{}", s % 10).parse().unwrap(),
                labels: mcpulse::store::LabelSet::from_pairs([(
                    "tool".to_string(),
                    format!("tool-{s:03}"),
                )])
                .unwrap(),
                ts,
                value: 50.0
                    + 10.0 * (s % 7) as f64
                    + 30.0 * phase.sin()
                    + ((k * 31 + s as i64 * 17) % 23) as f64,
            });
        }
        for src in 0..10 {
            // Source 3 is down for an hour on the second day.
            let down = src == 3 && (86_400..90_000).contains(&(k * step.num_seconds()));
            batch.push(mcpulse::store::Sample {
                metric: "up".parse().unwrap(),
                source: format!("mcp-{src}").parse().unwrap(),
                labels: Default::default(),
                ts,
                value: if down { 0.0 } else { 1.0 },
            });
        }
        if batch.len() >= 100_000 {
            store.write(&batch).await?;
            batch.clear();
        }
    }
    store.write(&batch).await?;
    let rolled = Instant::now();
    while store.roll_up().await? > 0 {}
    sqlx::query("ANALYZE").execute(&pool).await?;
    println!(
        "  setup: written in {:.1} s, rolled up in {:.1} s\n",
        (rolled - written).as_secs_f64(),
        rolled.elapsed().as_secs_f64()
    );

    let reports = Arc::new(Reports::new(
        pool.clone(),
        store.clone(),
        None,
        None,
        Retention {
            keep_last: 100,
            keep_for: Duration::from_secs(86_400),
            samples: Duration::from_secs(30 * 86_400),
        },
    ));
    let template = reports
        .create_template(
            &app::types::ReportTemplateDraft {
                name: "Bench weekly".into(),
                period: format!("{}d", bench.days),
                sections: vec![
                    app::types::ReportSection::MetricsSummary {
                        title: "Latency".into(),
                        metrics: vec!["bench_latency_ms".into()],
                        sources: vec![],
                        labels: vec![],
                        chart: true,
                    },
                    app::types::ReportSection::AlertsSummary {
                        title: String::new(),
                        show_resolved: true,
                    },
                    app::types::ReportSection::SourceHealth {
                        title: String::new(),
                        sources: vec![],
                    },
                ],
                ..Default::default()
            },
            "bench",
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let checked = mcpulse::report::template::Template::check(&template.template, &|_| true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    println!(
        "  {:<26} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>12}",
        "run", "numbers", "html", "json", "csv", "generate", "peak RSS", "html size"
    );
    for (label, from) in [
        ("baseline: last 1 day", end - chrono::Duration::days(1)),
        (&*format!("{} days", bench.days), start),
    ] {
        reset_peak_rss();
        let rss_before = resident_bytes().unwrap_or(0);
        // The parts, timed one by one …
        let t = Instant::now();
        let data = data::collect(
            &store,
            &checked,
            from,
            end,
            start,
            chrono::Utc::now(),
            &|_, _| {},
        )
        .await?;
        let numbers = t.elapsed();
        let t = Instant::now();
        let html = render::html(&data)?;
        let html_time = t.elapsed();
        let t = Instant::now();
        let json = render::json(&data)?;
        let json_time = t.elapsed();
        let t = Instant::now();
        let csv = render::csv(&data)?;
        let csv_time = t.elapsed();
        drop((data, json, csv));
        // … and the whole run as the scheduler does it (read, render on a blocking thread, store).
        let t = Instant::now();
        let prepared = reports
            .prepare(template.id, "manual", Some("bench"), Some((from, end)))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let info = reports.generate(prepared, &|_, _| {}).await;
        let generate = t.elapsed();
        anyhow::ensure!(
            info.status == "succeeded",
            "report failed: {:?}",
            info.error
        );
        let peak = peak_rss().unwrap_or(0);
        println!(
            "  {:<26} {:>7.0}ms {:>7.0}ms {:>7.0}ms {:>7.0}ms {:>8.0}ms {:>7.0} MiB {:>8.0} KiB",
            label,
            ms(numbers),
            ms(html_time),
            ms(json_time),
            ms(csv_time),
            ms(generate),
            peak as f64 / 1048576.0,
            html.len() as f64 / 1024.0
        );
        println!(
            "  {:<26} resident before {:.0} MiB, peak +{:.0} MiB",
            "",
            rss_before as f64 / 1048576.0,
            peak.saturating_sub(rss_before) as f64 / 1048576.0
        );
    }
    Ok(())
}

/// Resets this process's peak resident set size (`VmHWM`), so the next reading is the peak since now.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident set size since start or the last [`reset_peak_rss`].
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub struct ProbeBench {
    pub servers: usize,
    pub interval: Duration,
    pub duration: Duration,
}

/// CPU seconds (user + system) this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    (ticks(11) + ticks(12)) / hz
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub async fn probes(config: &Config, bench: ProbeBench) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.reports.enabled = false;
    config.alerts.enabled = false;
    // The built-in `self` source collects as usual in both phases.
    config.collection.interval = bench.interval;
    let scratch = Scratch::start(&config).await?;
    let result = run_probes(&scratch, &bench).await;
    scratch.finish().await?;
    result
}

async fn run_probes(scratch: &Scratch, bench: &ProbeBench) -> anyhow::Result<()> {
    use mcpulse::collect::mcp::config::{McpTarget, ToolCall};
    use mcpulse::collect::spec::{SourceKind, SourceSpec};
    use mcpulse::telemetry::resident_memory_bytes;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut target = tokio::process::Command::new(std::env::current_exe()?)
        .args(["mcp-target", "--port", &port.to_string()])
        .kill_on_drop(true)
        .spawn()
        .context("starting the MCP target")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "the MCP target did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "probe benchmark: {} MCP servers over Streamable HTTP, a round every {} s (ping, tools/list, tools/call echo), \
         every round stored; {} s measured",
        bench.servers,
        bench.interval.as_secs(),
        bench.duration.as_secs()
    );

    // Baseline: the same process, mcpulse serving, nothing probed.
    tokio::time::sleep(bench.interval).await;
    let (cpu0, rss0) = (cpu_seconds(), resident_memory_bytes().unwrap_or(0));
    tokio::time::sleep(bench.duration).await;
    let (cpu1, rss1) = (cpu_seconds(), resident_memory_bytes().unwrap_or(0));
    let idle_cpu = cpu1 - cpu0;

    let store = Arc::new(mcpulse::store::Store::new(scratch.pool.clone()));
    let hub = Arc::new(mcpulse::live::Hub::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let collector = mcpulse::collect::Collector::new(
        store,
        hub,
        stop.clone(),
        Duration::from_secs(7 * 86_400),
        mcpulse::clock::Clock::system(),
    );
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/mcp"))?;
    for i in 0..bench.servers {
        let spec = SourceSpec {
            id: format!("bench-mcp-{i:03}").parse()?,
            name: format!("bench-mcp-{i:03}"),
            kind: SourceKind::Mcp {
                target: McpTarget::Http {
                    url: url.clone(),
                    headers: Default::default(),
                },
                calls: vec![ToolCall {
                    tool: "echo".into(),
                    arguments: serde_json::json!({ "message": "bench" })
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                }],
            },
            interval: bench.interval,
            timeout: bench.interval,
            labels: Default::default(),
            enabled: true,
        };
        collector.add(spec.build(Some(scratch.pool.clone()))?, spec.schedule())?;
    }
    // Warm-up: every probe connects and initializes.
    tokio::time::sleep(bench.interval).await;
    let started = chrono::Utc::now();
    let (cpu2, rss2) = (cpu_seconds(), resident_memory_bytes().unwrap_or(0));
    tokio::time::sleep(bench.duration).await;
    let (cpu3, rss3) = (cpu_seconds(), resident_memory_bytes().unwrap_or(0));
    let probe_cpu = cpu3 - cpu2;
    let (rounds, down): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE x.value = 0) FROM series s JOIN samples_in($1, 'infinity') x ON x.series_id = s.id
         WHERE s.metric = 'up' AND s.source LIKE 'bench-mcp-%'",
    )
    .bind(started)
    .fetch_one(&scratch.pool)
    .await?;
    let samples: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM series s JOIN samples_in($1, 'infinity') x ON x.series_id = s.id
         WHERE s.source LIKE 'bench-mcp-%'",
    )
    .bind(started)
    .fetch_one(&scratch.pool)
    .await?;
    let latency: Option<f64> = sqlx::query_scalar(
        "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY x.value) FROM series s JOIN samples_in($1, 'infinity') x ON x.series_id = s.id
         WHERE s.metric = 'mcp_probe_latency_ms' AND s.source LIKE 'bench-mcp-%'",
    )
    .bind(started)
    .fetch_one(&scratch.pool)
    .await?;
    stop.cancel();
    collector.join().await;
    let _ = target.kill().await;

    let secs = bench.duration.as_secs_f64();
    println!("                          idle      with probes");
    println!(
        "  CPU (% of one core)   {:>6.2} %    {:>6.2} %   (+{:.2} %, {:.2} ms of CPU per probe round)",
        idle_cpu / secs * 100.0,
        probe_cpu / secs * 100.0,
        (probe_cpu - idle_cpu) / secs * 100.0,
        if rounds > 0 {
            (probe_cpu - idle_cpu).max(0.0) * 1000.0 / rounds as f64
        } else {
            0.0
        }
    );
    println!(
        "  resident memory       {:>6.1} MiB  {:>6.1} MiB (+{:.1} MiB, {:.0} KiB per probe)",
        mib(rss1),
        mib(rss3),
        mib(rss3.saturating_sub(rss0.max(rss1))),
        rss3.saturating_sub(rss0.max(rss1)) as f64 / 1024.0 / bench.servers as f64
    );
    println!(
        "  rounds: {rounds} ({down} failed), {samples} samples stored, p99 request latency {:.1} ms",
        latency.unwrap_or(0.0)
    );
    let _ = rss2;
    Ok(())
}

/// The probed server: an rmcp Streamable HTTP server with one `echo` tool, on `port` until killed.
pub async fn mcp_target(port: u16) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let service = StreamableHttpService::new(
        || Ok(EchoServer::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

#[derive(Clone)]
struct EchoServer {
    tool_router: rmcp::handler::server::router::tool::ToolRouter<Self>,
}

#[derive(serde::Deserialize, rmcp::schemars::JsonSchema)]
struct EchoParams {
    /// Text to send back.
    message: String,
}

#[rmcp::tool_router]
impl EchoServer {
    fn new() -> Self {
        EchoServer {
            tool_router: Self::tool_router(),
        }
    }

    #[rmcp::tool(description = "Sends the message back")]
    fn echo(
        &self,
        rmcp::handler::server::wrapper::Parameters(p): rmcp::handler::server::wrapper::Parameters<
            EchoParams,
        >,
    ) -> String {
        p.message
    }
}

#[rmcp::tool_handler(router = self.tool_router)]
impl rmcp::ServerHandler for EchoServer {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }
}
