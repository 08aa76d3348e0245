//! `mcpulse-bench compare`: mcpulse beside VictoriaMetrics and Prometheus on the same data, in the same run.
//!
//! Data in: a generated data set (by default 1,100 series × 1 day at 10 s = 9.5 M samples; even series are
//! 2-decimal random-walk gauges `load_gauge`, odd ones counters `load_counter_total`), rendered once as
//! Prometheus-text push bodies of `points` points per series. Each engine runs as its own process on a random
//! port with a temporary database or directory: mcpulse (`mcpulse serve`, the release binary beside this one, on
//! a scratch PostgreSQL database), VictoriaMetrics (`victoria-metrics`) and Prometheus (its blocks built by
//! `promtool tsdb create-blocks-from openmetrics`, as Prometheus takes no backfill over HTTP).
//!
//! The same client code pushes the same bodies to mcpulse (`/api/v1/ingest`) and VictoriaMetrics
//! (`/api/v1/import/prometheus`) from `concurrency` connections, then runs the same three queries on all three
//! (per-series average of 100 gauges over the whole range at ~1,000 buckets; the last hour of the same series at
//! 10 s; the sum of every gauge over the range at ~1,000 buckets), each `runs` times. mcpulse is queried right
//! after the load and again once compaction has caught up. Data out: one table of samples/s, errors,
//! bytes/sample, query p50/p95 and resident memory, with the ratios to VictoriaMetrics.

use anyhow::{bail, Context};
use mcpulse::config::Config;
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct CompareBench {
    pub series: usize,
    pub hours: f64,
    pub interval_secs: u64,
    pub points: usize,
    pub concurrency: usize,
    pub runs: usize,
    pub prometheus: bool,
    pub binary: Option<PathBuf>,
    pub keep: bool,
}

/// The generated samples: per series, values at `start_ms + k * step_ms`.
struct Dataset {
    series: usize,
    start_ms: i64,
    step_ms: i64,
    values: Vec<Vec<f64>>,
}

impl Dataset {
    fn generate(series: usize, hours: f64, interval_secs: u64) -> Dataset {
        let step_ms = (interval_secs.max(1) * 1000) as i64;
        let n = (hours * 3_600_000.0 / step_ms as f64) as usize;
        // Aligned to the step, ending a step before now.
        let now = chrono::Utc::now().timestamp_millis();
        let start_ms = (now / step_ms - n as i64) * step_ms;
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut uniform = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let values = (0..series)
            .map(|s| {
                let mut v = round(uniform() * 100.0);
                (0..n)
                    .map(|_| {
                        let step = if s % 2 == 1 {
                            uniform()
                        } else {
                            uniform() * 2.0 - 1.0
                        };
                        v = round(v + step);
                        v
                    })
                    .collect()
            })
            .collect();
        Dataset {
            series,
            start_ms,
            step_ms,
            values,
        }
    }

    fn points(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    fn samples(&self) -> usize {
        self.series * self.points()
    }

    fn end_ms(&self) -> i64 {
        self.start_ms + self.points() as i64 * self.step_ms
    }

    fn name(s: usize) -> &'static str {
        if s % 2 == 1 {
            "load_counter_total"
        } else {
            "load_gauge"
        }
    }

    /// Push bodies in Prometheus text with millisecond timestamps: `per_batch` points of every series each.
    fn bodies(&self, per_batch: usize) -> Vec<bytes::Bytes> {
        use std::fmt::Write;
        let per_batch = per_batch.max(1);
        (0..self.points())
            .step_by(per_batch)
            .map(|first| {
                let last = (first + per_batch).min(self.points());
                let mut body = String::with_capacity(self.series * (last - first) * 48);
                for (s, values) in self.values.iter().enumerate() {
                    let name = Self::name(s);
                    for (k, v) in values.iter().enumerate().take(last).skip(first) {
                        let t = self.start_ms + k as i64 * self.step_ms;
                        let _ = writeln!(body, "{name}{{series=\"{s}\"}} {v} {t}");
                    }
                }
                bytes::Bytes::from(body)
            })
            .collect()
    }

    /// The same samples as an OpenMetrics file (seconds timestamps), one family after the other, for promtool.
    fn write_openmetrics(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for family in ["load_gauge", "load_counter_total"] {
            for (s, values) in self.values.iter().enumerate() {
                if Self::name(s) != family {
                    continue;
                }
                for (k, v) in values.iter().enumerate() {
                    let t = self.start_ms + k as i64 * self.step_ms;
                    writeln!(
                        out,
                        "{family}{{series=\"{s}\"}} {v} {}.{:03}",
                        t / 1000,
                        t % 1000
                    )?;
                }
            }
        }
        writeln!(out, "# EOF")?;
        out.flush()?;
        Ok(())
    }
}

/// One query, in each engine's terms.
struct Probe {
    label: &'static str,
    /// `/api/timeseries` parameters.
    mcpulse: Vec<(String, String)>,
    /// PromQL and its range (seconds) and step.
    promql: String,
    start: f64,
    end: f64,
    step: u64,
}

fn probes(data: &Dataset) -> Vec<Probe> {
    let gauges: Vec<String> = (0..data.series)
        .step_by(2)
        .take(100)
        .map(|s| s.to_string())
        .collect();
    let picked = gauges.join("|");
    let (start, end) = (data.start_ms / 1000, data.end_ms() / 1000);
    let span = (end - start) as u64;
    // About 1,000 buckets of a round width.
    let wide = [10u64, 15, 30, 60, 90, 120, 300, 600, 900, 1800, 3600]
        .into_iter()
        .find(|s| span / s <= 1000)
        .unwrap_or(3600);
    let hour_start = end - 3600;
    let rfc = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .to_rfc3339()
    };
    let params = |start: i64, step: u64, aggregation: &str, group: Option<&str>, matcher: bool| {
        let mut p = vec![
            ("metric".to_string(), "load_gauge".to_string()),
            ("start".to_string(), rfc(start)),
            ("end".to_string(), rfc(end)),
            ("step".to_string(), format!("{step}s")),
            ("aggregation".to_string(), aggregation.to_string()),
            ("max_points".to_string(), "20000".to_string()),
        ];
        if let Some(g) = group {
            p.push(("group_by".to_string(), g.to_string()));
        }
        if matcher {
            p.push(("label".to_string(), format!("series=~{picked}")));
        }
        p
    };
    // PromQL evaluates at each step's end over the step before it; mcpulse's buckets start at the step.
    vec![
        Probe {
            label: "100 series, whole range, ~1,000 buckets, avg per series",
            mcpulse: params(start, wide, "avg", Some("series"), true),
            promql: format!("avg_over_time(load_gauge{{series=~\"{picked}\"}}[{wide}s])"),
            start: (start + wide as i64) as f64,
            end: end as f64,
            step: wide,
        },
        Probe {
            label: "100 series, last hour at 10 s, avg per series",
            mcpulse: params(hour_start, 10, "avg", Some("series"), true),
            promql: format!("avg_over_time(load_gauge{{series=~\"{picked}\"}}[10s])"),
            start: (hour_start + 10) as f64,
            end: end as f64,
            step: 10,
        },
        Probe {
            label: "every gauge summed, whole range, ~1,000 buckets",
            mcpulse: params(start, wide, "sum", None, false),
            promql: format!("sum(sum_over_time(load_gauge[{wide}s]))"),
            start: (start + wide as i64) as f64,
            end: end as f64,
            step: wide,
        },
    ]
}

/// Query timings of one engine: p50 and p95 per probe, and the points of its last answer.
#[derive(Default, Clone)]
struct Timings {
    p50: Vec<f64>,
    p95: Vec<f64>,
    points: Vec<usize>,
}

/// What one engine did.
#[derive(Default, Clone)]
struct Figures {
    rate: Option<f64>,
    errors: usize,
    compacted_bytes: Option<f64>,
    database_bytes: Option<f64>,
    rss_mib: Option<f64>,
    right_after: Option<Timings>,
    settled: Option<Timings>,
}

/// A child process stopped (and waited for) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

async fn wait_ready(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer within 2 minutes")
}

/// Pushes every body from `concurrency` connections; returns samples/s and the pushes not answered 2xx.
async fn push_all(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    bodies: &[bytes::Bytes],
    samples: usize,
    concurrency: usize,
) -> (f64, usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let errors = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let worker = || async {
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(body) = bodies.get(k) else { break };
            let mut req = client
                .post(url)
                .header("content-type", "text/plain")
                .body(body.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let ok = match req.send().await {
                Ok(r) => {
                    let ok = r.status().is_success();
                    if !ok {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        eprintln!("  push {k} answered {status}: {}", text.trim());
                    }
                    ok
                }
                Err(e) => {
                    eprintln!("  push {k} failed: {e}");
                    false
                }
            };
            if !ok {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    futures::future::join_all((0..concurrency.max(1)).map(|_| worker())).await;
    let took = started.elapsed().as_secs_f64();
    (
        samples as f64 / took,
        errors.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// Runs every probe `runs` times against mcpulse's `/api/timeseries`.
async fn time_mcpulse(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    probes: &[Probe],
    runs: usize,
) -> anyhow::Result<Timings> {
    let request = |probe: &Probe| {
        client
            .get(format!("{base}/api/timeseries"))
            .query(&probe.mcpulse)
            .bearer_auth(token)
    };
    time_queries(probes, runs, request, "series", "points").await
}

/// Runs every probe `runs` times against a Prometheus-compatible `/api/v1/query_range`.
async fn time_promql(
    client: &reqwest::Client,
    base: &str,
    probes: &[Probe],
    runs: usize,
) -> anyhow::Result<Timings> {
    let request = |probe: &Probe| {
        client.get(format!("{base}/api/v1/query_range")).query(&[
            ("query", probe.promql.clone()),
            ("start", probe.start.to_string()),
            ("end", probe.end.to_string()),
            ("step", probe.step.to_string()),
        ])
    };
    time_queries(probes, runs, request, "result", "values").await
}

/// Times `request(probe)` `runs` times per probe; counts the points of the answer's `series_key` array (found at
/// the top or under `data`), each of whose `points_key` arrays holds one series' points.
async fn time_queries(
    probes: &[Probe],
    runs: usize,
    request: impl Fn(&Probe) -> reqwest::RequestBuilder,
    series_key: &str,
    points_key: &str,
) -> anyhow::Result<Timings> {
    let mut out = Timings::default();
    for probe in probes {
        let mut took = Vec::new();
        let mut points = 0;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let r = request(probe).send().await?;
            let status = r.status();
            let body: serde_json::Value = serde_json::from_str(&r.text().await?)?;
            took.push(started.elapsed().as_secs_f64() * 1000.0);
            if !status.is_success() {
                bail!("answered {status} to `{}`: {body}", probe.label);
            }
            let series = body
                .get(series_key)
                .or_else(|| body["data"].get(series_key))
                .and_then(|s| s.as_array());
            points = series.map_or(0, |s| {
                s.iter()
                    .map(|s| s[points_key].as_array().map_or(0, Vec::len))
                    .sum()
            });
        }
        push_timing(&mut out, took, points);
    }
    Ok(out)
}

fn push_timing(out: &mut Timings, mut took: Vec<f64>, points: usize) {
    took.sort_by(f64::total_cmp);
    let at = |p: f64| took[((took.len() as f64 - 1.0) * p).round() as usize];
    out.p50.push(at(0.5));
    out.p95.push(at(0.95));
    out.points.push(points);
}

pub async fn compare(config: &Config, bench: CompareBench) -> anyhow::Result<()> {
    let admin_url = config.database.url.clone().context(
        "the benchmark needs database.url (DATABASE_URL) naming a PostgreSQL role that may create databases",
    )?;
    let binary = match &bench.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory beside this binary")?
            .join("mcpulse"),
    };
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it (`cargo build --release -p server`) or name it with --binary",
        binary.display()
    );
    for tool in ["victoria-metrics"]
        .into_iter()
        .chain(bench.prometheus.then_some("promtool"))
        .chain(bench.prometheus.then_some("prometheus"))
    {
        anyhow::ensure!(
            which(tool).is_some(),
            "`{tool}` is not on PATH: `apt-get install victoria-metrics prometheus` (scripts/test installs them), \
             or --no-prometheus"
        );
    }
    let started = Instant::now();
    let data = Dataset::generate(bench.series, bench.hours, bench.interval_secs);
    let bodies = data.bodies(bench.points);
    let probes = probes(&data);
    println!(
        "data: {} series × {} points at {} s = {} samples, {} pushes of {} points per series, {} connections \
         (generated in {:.1} s)",
        data.series,
        data.points(),
        bench.interval_secs,
        data.samples(),
        bodies.len(),
        bench.points,
        bench.concurrency,
        started.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let ours = run_mcpulse(
        &admin_url, &binary, &client, &data, &bodies, &probes, &bench,
    )
    .await?;
    let vm = run_victoria(&client, &data, &bodies, &probes, &bench).await?;
    let prom = if bench.prometheus {
        Some(run_prometheus(&client, &data, &probes, &bench).await?)
    } else {
        None
    };
    print_table(&ours, &vm, prom.as_ref(), &probes);
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

async fn run_mcpulse(
    admin_url: &str,
    binary: &Path,
    client: &reqwest::Client,
    data: &Dataset,
    bodies: &[bytes::Bytes],
    probes: &[Probe],
    bench: &CompareBench,
) -> anyhow::Result<Figures> {
    let name = format!("mcpulse_compare_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connecting to database.url")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&name);
    let result = mcpulse_inner(url.as_str(), binary, client, data, bodies, probes, bench).await;
    if bench.keep {
        println!("mcpulse: kept the database {name}");
    } else {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    result
}

async fn mcpulse_inner(
    url: &str,
    binary: &Path,
    client: &reqwest::Client,
    data: &Dataset,
    bodies: &[bytes::Bytes],
    probes: &[Probe],
    bench: &CompareBench,
) -> anyhow::Result<Figures> {
    let port = free_port()?;
    let env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("DATABASE_URL", url)
            .env("MCPULSE_PORT", port.to_string())
            .env("MCPULSE_LOG", "warn")
            .env("MCPULSE_RETENTION", "30d")
            .env("MCPULSE_HOT_WINDOW", "2h");
    };
    let mut cmd = Command::new(binary);
    cmd.arg("serve").stdin(Stdio::null());
    env(&mut cmd);
    let server = Running(cmd.spawn().context("starting mcpulse serve")?);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(client, &format!("{base}/ready")).await?;
    let mut cmd = Command::new(binary);
    cmd.args(["token", "create", "compare", "--scopes", "ingest,read"]);
    env(&mut cmd);
    let out = cmd.output().context("creating a token")?;
    anyhow::ensure!(
        out.status.success(),
        "mcpulse token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)?.trim().to_string();

    // Dirty pages of earlier work (a previous run, a test suite) are written now rather than by a checkpoint
    // landing in the middle of the load; VictoriaMetrics starts from an empty directory likewise.
    let checkpoint = sqlx::PgPool::connect(url).await?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&checkpoint).await {
        println!("mcpulse: CHECKPOINT before the load failed ({e}); measuring anyway");
    }
    checkpoint.close().await;
    println!("mcpulse: pushing…");
    let (rate, errors) = push_all(
        client,
        &format!("{base}/api/v1/ingest?source=load"),
        Some(&token),
        bodies,
        data.samples(),
        bench.concurrency,
    )
    .await;
    println!(
        "mcpulse: {rate:.0} samples/s, {errors} pushes failed; querying right after the load…"
    );
    let right_after = time_mcpulse(client, &base, &token, probes, bench.runs).await?;
    let rss = rss_mib(server.0.id());

    // Compaction runs every minute once the rollups have folded the load: wait for it to reach the hot window.
    let pool = sqlx::PgPool::connect(url).await?;
    let hot_until = {
        let hour = 3_600_000;
        ((chrono::Utc::now().timestamp_millis() - 2 * hour) / hour) * hour
    };
    let waited = Instant::now();
    loop {
        let watermark: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("SELECT watermark FROM compaction_state")
                .fetch_optional(&pool)
                .await?
                .flatten();
        if watermark.is_some_and(|w| w.timestamp_millis() >= hot_until.min(data.end_ms())) {
            break;
        }
        if waited.elapsed() > Duration::from_secs(900) {
            bail!("compaction did not reach the hot window within 15 minutes (watermark {watermark:?})");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let compacted = waited.elapsed();
    // A day merged into a table apart takes its partition's place once no older transaction runs (the next
    // compaction runs): until then both are on disk.
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname LIKE 'sample\\_chunks\\_p%\\_merged')",
        )
        .fetch_one(&pool)
        .await?;
        if !waiting {
            break;
        }
        if waited.elapsed() > compacted + Duration::from_secs(300) {
            println!(
                "mcpulse: a merged day still waits to replace its partition (counted beside it)"
            );
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Then until the database is quiet (the rollup job, compaction's vacuum, autovacuum after the bulk delete):
    // the settled figures are what a user gets a little later, not a race with background work.
    loop {
        let busy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'",
        )
        .fetch_one(&pool)
        .await?;
        if busy == 0 || waited.elapsed() > Duration::from_secs(1200) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "mcpulse: compacted {:.0} s after the load, quiet after {:.0} s; querying again…",
        compacted.as_secs_f64(),
        waited.elapsed().as_secs_f64()
    );
    let settled = time_mcpulse(client, &base, &token, probes, bench.runs).await?;
    if let Some(mib) = rss_mib(server.0.id()) {
        println!("mcpulse: RSS after the compacted queries {mib:.0} MiB");
    }
    let (chunk_bytes, chunk_samples): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::int8 FROM pg_inherits i
                 WHERE i.inhparent = 'sample_chunks'::regclass),
                (SELECT coalesce(sum(count), 0)::int8 FROM sample_chunks)",
    )
    .fetch_one(&pool)
    .await?;
    let database: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await?;
    // Where the database's bytes are, per sample loaded.
    let mut parts = Vec::new();
    let mut counted = 0i64;
    for table in ["samples", "sample_chunks", "rollup_1m", "rollup_1h"] {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::int8 FROM pg_inherits i
             WHERE i.inhparent = $1::regclass",
        )
        .bind(table)
        .fetch_one(&pool)
        .await?;
        counted += bytes;
        parts.push(format!(
            "{table} {:.2}",
            bytes as f64 / data.samples() as f64
        ));
    }
    parts.push(format!(
        "the rest (catalog, series, …) {:.2}",
        (database - counted) as f64 / data.samples() as f64
    ));
    println!("mcpulse: bytes/sample by table: {}", parts.join(", "));
    pool.close().await;
    Ok(Figures {
        rate: Some(rate),
        errors,
        compacted_bytes: (chunk_samples > 0).then(|| chunk_bytes as f64 / chunk_samples as f64),
        database_bytes: Some(database as f64 / data.samples() as f64),
        rss_mib: rss,
        right_after: Some(right_after),
        settled: Some(settled),
    })
}

async fn run_victoria(
    client: &reqwest::Client,
    data: &Dataset,
    bodies: &[bytes::Bytes],
    probes: &[Probe],
    bench: &CompareBench,
) -> anyhow::Result<Figures> {
    let dir = tempdir("compare-vm")?;
    let port = free_port()?;
    let vm = Running(
        Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            // Its response cache would answer the repeated queries without running them: measured uncached, as
            // mcpulse (which has none).
            .args([
                "-retentionPeriod=30d",
                "-loggerLevel=ERROR",
                "-search.disableCache",
            ])
            .stdin(Stdio::null())
            .spawn()
            .context("starting victoria-metrics")?,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(client, &format!("{base}/health")).await?;
    println!("VictoriaMetrics: pushing…");
    let (rate, errors) = push_all(
        client,
        &format!("{base}/api/v1/import/prometheus"),
        None,
        bodies,
        data.samples(),
        bench.concurrency,
    )
    .await;
    client
        .get(format!("{base}/internal/force_flush"))
        .send()
        .await?;
    println!("VictoriaMetrics: {rate:.0} samples/s, {errors} pushes failed; querying…");
    let timings = time_promql(client, &base, probes, bench.runs).await?;
    let rss = rss_mib(vm.0.id());
    client
        .get(format!("{base}/internal/force_merge"))
        .send()
        .await?;
    // The merge runs in the background: wait until the directory stops shrinking.
    let mut size = dir_bytes(&dir);
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = dir_bytes(&dir);
        if now == size {
            break;
        }
        size = now;
    }
    drop(vm);
    let _ = std::fs::remove_dir_all(&dir);
    let per_sample = size as f64 / data.samples() as f64;
    Ok(Figures {
        rate: Some(rate),
        errors,
        compacted_bytes: Some(per_sample),
        database_bytes: Some(per_sample),
        rss_mib: rss,
        right_after: Some(timings.clone()),
        settled: Some(timings),
    })
}

async fn run_prometheus(
    client: &reqwest::Client,
    data: &Dataset,
    probes: &[Probe],
    bench: &CompareBench,
) -> anyhow::Result<Figures> {
    let dir = tempdir("compare-prom")?;
    let file = dir.join("data.om");
    let tsdb = dir.join("tsdb");
    data.write_openmetrics(&file)?;
    println!("Prometheus: building blocks with promtool (slow: minutes)…");
    let built = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .stdout(Stdio::null())
        .status()
        .context("running promtool")?;
    anyhow::ensure!(built.success(), "promtool failed: {built}");
    let _ = std::fs::remove_file(&file);
    let size = dir_bytes(&tsdb);
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n")?;
    let port = free_port()?;
    let prom = Running(
        Command::new("prometheus")
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--config.file={}", config.display()))
            .args(["--storage.tsdb.retention.time=30d", "--log.level=error"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting prometheus")?,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(client, &format!("{base}/-/ready")).await?;
    let timings = time_promql(client, &base, probes, bench.runs).await?;
    let rss = rss_mib(prom.0.id());
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
    let per_sample = size as f64 / data.samples() as f64;
    Ok(Figures {
        rate: None,
        errors: 0,
        compacted_bytes: Some(per_sample),
        database_bytes: Some(per_sample),
        rss_mib: rss,
        right_after: Some(timings.clone()),
        settled: Some(timings),
    })
}

fn tempdir(prefix: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn print_table(ours: &Figures, vm: &Figures, prom: Option<&Figures>, probes: &[Probe]) {
    let num =
        |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |v| format!("{v:.digits$}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_string(),
    };
    let prom_cell = |f: &dyn Fn(&Figures) -> String| prom.map_or("—".to_string(), f);
    println!();
    println!("| | VictoriaMetrics | Prometheus | mcpulse | mcpulse / VictoriaMetrics |");
    println!("|---|---|---|---|---|");
    println!(
        "| ingest, samples/s (pushes failed) | {} ({}) | — (promtool blocks) | {} ({}) | {} |",
        num(vm.rate, 0),
        vm.errors,
        num(ours.rate, 0),
        ours.errors,
        ratio(ours.rate, vm.rate)
    );
    println!(
        "| bytes/sample, compacted | {} | {} | {} | {} |",
        num(vm.compacted_bytes, 2),
        prom_cell(&|p| num(p.compacted_bytes, 2)),
        num(ours.compacted_bytes, 2),
        ratio(ours.compacted_bytes, vm.compacted_bytes)
    );
    println!(
        "| bytes/sample, whole database | {} | {} | {} | {} |",
        num(vm.database_bytes, 2),
        prom_cell(&|p| num(p.database_bytes, 2)),
        num(ours.database_bytes, 2),
        ratio(ours.database_bytes, vm.database_bytes)
    );
    for (k, probe) in probes.iter().enumerate() {
        let cell = |t: &Option<Timings>| {
            t.as_ref().map_or("—".to_string(), |t| {
                format!("{:.0} / {:.0} ({} points)", t.p50[k], t.p95[k], t.points[k])
            })
        };
        let p50 = |t: &Option<Timings>| t.as_ref().map(|t| t.p50[k]);
        for (when, ours_t) in [
            ("right after the load", &ours.right_after),
            ("compacted", &ours.settled),
        ] {
            println!(
                "| {}, ms p50 / p95, mcpulse {when} | {} | {} | {} | {} |",
                probe.label,
                cell(&vm.settled),
                prom.map_or("—".to_string(), |p| cell(&p.settled)),
                cell(ours_t),
                ratio(p50(ours_t), p50(&vm.settled))
            );
        }
    }
    println!(
        "| RSS after the load, MiB (mcpulse: its process; PostgreSQL apart) | {} | {} | {} | {} |",
        num(vm.rss_mib, 0),
        prom_cell(&|p| num(p.rss_mib, 0)),
        num(ours.rss_mib, 0),
        ratio(ours.rss_mib, vm.rss_mib)
    );
}
