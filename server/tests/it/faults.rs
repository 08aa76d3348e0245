//! The fault suite: the real binary and a real PostgreSQL, faults injected while clients push.
//!
//! - `kill -9` of mcpulse during sustained 4-client push ingest: every acknowledged batch is stored exactly once,
//!   and no batch is stored in part.
//! - PostgreSQL stopped (`pg_ctl stop -m immediate`) under ingest and started again: pushes answer 503 (never 200)
//!   while it is down, `/ready` says not ready and comes back, mcpulse reconnects by itself, and acknowledged =
//!   stored.
//! - A receiver that is down, then answers 500, then hangs past the send timeout, then works: the notice is
//!   delivered once under one idempotency key.
//! - Twenty contact points whose receivers hang: ingest, pages and server functions keep their latency.
//!
//! Each prints its figures (`cargo test faults -- --nocapture`).

use crate::helpers::{eventually, spawn_app_with, TestApp};
use app::types::Role;
use mcpulse::auth::tokens::{Scope, Tokens};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERIES: usize = 200;
const POINTS: usize = 5;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The first instant of batch `batch` (< 2,000) of client `client` (< 4): batches never share an instant, and all
/// lie within the 12 hours after `base_ms`.
fn batch_start(base_ms: i64, client: usize, batch: usize) -> i64 {
    assert!(batch < 2000, "a client pushed more than 2,000 batches");
    base_ms + ((client * 2000 + batch) * POINTS) as i64 * 1000
}

fn batch_body(start_ms: i64) -> String {
    let mut out = String::with_capacity(SERIES * POINTS * 40);
    for s in 0..SERIES {
        for p in 0..POINTS {
            out.push_str(&format!(
                "fault_load{{series=\"{s}\"}} {p} {}\n",
                start_ms + p as i64 * 1000
            ));
        }
    }
    out
}

/// What the pushing clients saw, in the order the answers came: batch start and HTTP status (0: no answer).
type Seen = Arc<Mutex<Vec<(i64, u16)>>>;

/// Four clients pushing batches to `base()` until `stop`; every attempt's outcome lands in the returned map.
fn pushers(
    base: Arc<Mutex<String>>,
    token: String,
    base_ms: i64,
    stop: Arc<AtomicBool>,
) -> (Seen, Vec<tokio::task::JoinHandle<()>>) {
    let seen: Seen = Default::default();
    let mut tasks = Vec::new();
    for client in 0..4 {
        let (base, token, stop, seen) = (base.clone(), token.clone(), stop.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut batch = 0;
            while !stop.load(Ordering::Relaxed) {
                let start = batch_start(base_ms, client, batch);
                let url = format!("{}/api/v1/ingest?source=faults", base.lock().unwrap());
                let status = match http
                    .post(url)
                    .bearer_auth(&token)
                    .header("content-type", "text/plain")
                    .body(batch_body(start))
                    .send()
                    .await
                {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        if status != 200 && status != 503 {
                            eprintln!(
                                "push answered {status}: {}",
                                r.text().await.unwrap_or_default()
                            );
                        }
                        status
                    }
                    Err(_) => 0,
                };
                seen.lock().unwrap().push((start, status));
                if status != 200 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                batch += 1;
            }
        }));
    }
    (seen, tasks)
}

/// Stored samples per batch start (batches are told apart by their instants).
async fn stored_batches(pool: &sqlx::PgPool, base_ms: i64) -> BTreeMap<i64, (i64, i64)> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT b, count(*), count(DISTINCT (x.series_id, x.ts)) FROM (
             SELECT x.series_id, x.ts,
                    $1 + ((((extract(epoch FROM x.ts) * 1000)::bigint - $1) / ($2 * 1000)) * $2 * 1000) AS b
             FROM samples_in('-infinity', 'infinity') x JOIN series s ON s.id = x.series_id
             WHERE s.source = 'faults' AND s.metric = 'fault_load') x
         GROUP BY b",
    )
    .bind(base_ms)
    .bind(POINTS as i64)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(b, n, d)| (b, (n, d))).collect()
}

/// Checks acknowledged = stored exactly once, and whole batches only; returns (acknowledged, stored, refused).
fn check(seen: &[(i64, u16)], stored: &BTreeMap<i64, (i64, i64)>) -> (usize, usize, usize) {
    let whole = (SERIES * POINTS) as i64;
    for (start, (n, distinct)) in stored {
        assert_eq!(*n, *distinct, "batch {start}: a sample stored twice");
        assert_eq!(*n, whole, "batch {start}: stored in part ({n} of {whole})");
    }
    let acknowledged: Vec<&i64> = seen
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(b, _)| b)
        .collect();
    for start in &acknowledged {
        assert!(
            stored.contains_key(start),
            "acknowledged batch {start} was not stored"
        );
    }
    let refused = seen.iter().filter(|(_, s)| *s != 200).count();
    (acknowledged.len(), stored.len(), refused)
}

#[tokio::test]
async fn kill_9_during_push_ingest_loses_no_acknowledged_sample() {
    let (url, name) = crate::helpers::fresh_database().await;
    let port = free_port();
    let mut child = crate::alerts::serve(&url, port).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (_, token) = Tokens::new(pool.clone())
        .create("gw", &[Scope::Ingest], None, "test")
        .await
        .unwrap();
    let base = Arc::new(Mutex::new(format!("http://127.0.0.1:{port}")));
    let base_ms = chrono::Utc::now().timestamp_millis() - 12 * 3_600_000;
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, tasks) = pushers(base.clone(), token, base_ms, stop.clone());
    let acked = |seen: &Seen| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| *s == 200)
            .count()
    };
    eventually(
        Duration::from_secs(30),
        "20 acknowledged batches",
        || async { (acked(&seen) >= 20).then_some(()) },
    )
    .await;
    child.kill().unwrap(); // SIGKILL, mid-batch for some of the four clients
    child.wait().unwrap();
    let before_restart = acked(&seen);
    let mut child = crate::alerts::serve(&url, port).await;
    eventually(
        Duration::from_secs(30),
        "20 more acknowledged batches",
        || async { (acked(&seen) >= before_restart + 20).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let seen = seen.lock().unwrap().clone();
    let stored = stored_batches(&pool, base_ms).await;
    let (acknowledged, stored_n, refused) = check(&seen, &stored);
    eprintln!(
        "kill -9 under 4-client push: {acknowledged} batches acknowledged, {stored_n} stored whole ({} samples each), \
         {refused} attempts unanswered or refused, 0 half-stored, 0 duplicates",
        SERIES * POINTS
    );
    assert!(refused >= 1, "the kill cut at least one push short");
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

#[tokio::test]
async fn a_database_outage_mid_ingest_answers_503_and_mcpulse_recovers_by_itself() {
    let dir = crate::cli::tempdir();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let port = free_port();
    let mut child = crate::cli::mcpulse()
        .args(["serve"])
        .env_remove("DATABASE_URL")
        .env_remove("MCPULSE_DATABASE_URL")
        .env("MCPULSE_DATA_DIR", &dir)
        .env("MCPULSE_PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let ready = |http: reqwest::Client| async move {
        http.get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
            .ok()
            .map(|r| r.status())
    };
    eventually(Duration::from_secs(60), "/ready", || async {
        (ready(http.clone()).await == Some(StatusCode::OK)).then_some(())
    })
    .await;
    let token = crate::cli::mcpulse()
        .args(["token", "create", "gw", "--scopes", "ingest"])
        .env_remove("DATABASE_URL")
        .env("MCPULSE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8_lossy(&token.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("mcpulse_"))
        .expect("the token is printed")
        .to_string();

    let base = Arc::new(Mutex::new(format!("http://127.0.0.1:{port}")));
    let base_ms = chrono::Utc::now().timestamp_millis() - 12 * 3_600_000;
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, tasks) = pushers(base, token, base_ms, stop.clone());
    let acked = |seen: &Seen| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| *s == 200)
            .count()
    };
    eventually(
        Duration::from_secs(30),
        "10 acknowledged batches",
        || async { (acked(&seen) >= 10).then_some(()) },
    )
    .await;

    // The outage: PostgreSQL stops at once (in-flight transactions are cut), as after a crash.
    let pg_ctl = |args: &[&str]| {
        let bin = mcpulse::db::embedded::find_bin_dir().unwrap();
        let mut cmd = std::process::Command::new(bin.join("pg_ctl"));
        cmd.args(args)
            .arg("-D")
            .arg(dir.join("postgres"))
            .env("LC_ALL", "C");
        if nix::unistd::Uid::effective().is_root() {
            use std::os::unix::process::CommandExt;
            let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    pg_ctl(&["stop", "-m", "immediate", "-w"]);
    let down_from = seen.lock().unwrap().len();
    eventually(Duration::from_secs(20), "/ready not ready", || async {
        (ready(http.clone()).await == Some(StatusCode::SERVICE_UNAVAILABLE)).then_some(())
    })
    .await;
    // Pushes in flight when it stopped may still be acknowledged (they had committed); after them, refusals.
    eventually(
        Duration::from_secs(30),
        "pushes refused while down",
        || async {
            let s = seen.lock().unwrap();
            let refused = s
                .iter()
                .skip(down_from)
                .filter(|(_, status)| *status == 503)
                .count();
            (refused >= 5).then_some(())
        },
    )
    .await;
    let during: Vec<u16> = seen
        .lock()
        .unwrap()
        .iter()
        .skip(down_from)
        .map(|(_, s)| *s)
        .collect();
    let options = "-c listen_addresses='' -k '".to_string()
        + &dir.join("postgres").to_string_lossy()
        + "' -c port=5432";
    pg_ctl(&[
        "start",
        "-w",
        "-t",
        "60",
        "-s",
        "-o",
        &options,
        "-l",
        &dir.join("postgres/postgresql.log").to_string_lossy(),
    ]);
    eventually(Duration::from_secs(30), "/ready again", || async {
        (ready(http.clone()).await == Some(StatusCode::OK)).then_some(())
    })
    .await;
    let back_from = acked(&seen);
    eventually(
        Duration::from_secs(30),
        "pushes acknowledged again",
        || async { (acked(&seen) >= back_from + 10).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let statuses: BTreeMap<u16, usize> =
        seen.lock()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut m, (_, s)| {
                *m.entry(*s).or_default() += 1;
                m
            });
    assert!(
        during.iter().all(|s| *s == 503 || *s == 200),
        "while the database was down pushes answered 503 (the first few may have committed before the stop): {during:?}"
    );
    assert!(
        during.iter().filter(|s| **s == 503).count() >= 5,
        "{during:?}"
    );
    assert!(!statuses.contains_key(&500), "no 500 at all: {statuses:?}");

    // Acknowledged = stored, read through mcpulse's own database.
    let cluster = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || mcpulse::db::embedded::Cluster::start(&dir))
            .await
            .unwrap()
            .unwrap()
    };
    let pool = sqlx::PgPool::connect_with(cluster.connect_options())
        .await
        .unwrap();
    let stored = stored_batches(&pool, base_ms).await;
    let seen = seen.lock().unwrap().clone();
    let (acknowledged, stored_n, refused) = check(&seen, &stored);
    eprintln!(
        "PostgreSQL stopped -m immediate and started under 4-client push: {acknowledged} batches acknowledged, \
         {stored_n} stored whole, {refused} refused (statuses {statuses:?}), 0 half-stored, 0 duplicates"
    );
    pool.close().await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A receiver on a fixed port: absent at first (connection refused), then 500 twice, then hanging once past the
/// send timeout, then 200. Every POST is recorded with its idempotency key and the status it got.
async fn fickle_receiver(port: u16, posts: Arc<Mutex<Vec<(String, u16)>>>) {
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let (posts, answered) = (posts.clone(), answered.clone());
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let n = answered.fetch_add(1, Ordering::SeqCst);
                let status = match n {
                    0 | 1 => 500,
                    2 => {
                        posts.lock().unwrap().push((key, 0));
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return StatusCode::OK;
                    }
                    _ => 200,
                };
                posts.lock().unwrap().push((key, status));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
}

async fn firing_rule(app: &TestApp, client: &reqwest::Client, token: &str) {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/ingest?source=probe", app.base))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body("errors_now 5\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&json!({ "name": "Errors", "metric": "errors_now", "condition": ">", "threshold": "1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_receiver_down_failing_hanging_then_up_gets_one_delivery_per_key() {
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_SEND_TIMEOUT", "1s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
    ])
    .await;
    app.add_user("root", Role::Admin).await;
    let client = app.signed_in("root").await;
    let port = free_port();
    let res = client
        .post(format!("{}/api/contact-points", app.base))
        .json(&json!({ "name": "fickle", "kind": "webhook", "url": format!("http://127.0.0.1:{port}/hook") }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, token) = Tokens::new(app.pool.clone())
        .create("gw", &[Scope::Ingest], None, "test")
        .await
        .unwrap();
    firing_rule(&app, &client, &token).await;

    // Down: the first attempt finds nobody listening; the contact point says so.
    let status = eventually(Duration::from_secs(20), "a failed attempt", || async {
        let body: Value = app
            .get(&client, "/api/contact-points")
            .await
            .json()
            .await
            .ok()?;
        let point = body["contact_points"][0].clone();
        point["last_error"].is_string().then_some(point)
    })
    .await;
    assert!(status["next_retry_at"].is_string(), "{status}");
    assert_eq!(status["queued"], 1, "{status}");

    let posts: Arc<Mutex<Vec<(String, u16)>>> = Default::default();
    fickle_receiver(port, posts.clone()).await;
    eventually(Duration::from_secs(60), "the delivery", || async {
        posts
            .lock()
            .unwrap()
            .iter()
            .any(|(_, s)| *s == 200)
            .then_some(())
    })
    .await;
    let delivered = eventually(
        Duration::from_secs(10),
        "the outbox row delivered",
        || async {
            let body: Value = app
                .get(&client, "/api/contact-points")
                .await
                .json()
                .await
                .ok()?;
            let point = body["contact_points"][0].clone();
            (point["delivered"] == 1 && point["queued"] == 0).then_some(point)
        },
    )
    .await;
    let posts = posts.lock().unwrap().clone();
    let keys: std::collections::BTreeSet<&String> = posts.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 1, "one idempotency key throughout: {posts:?}");
    assert_eq!(
        posts.iter().filter(|(_, s)| *s == 200).count(),
        1,
        "delivered once: {posts:?}"
    );
    assert_eq!(
        posts.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        vec![500, 500, 0, 200],
        "500, 500, a hang, then success"
    );
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    eprintln!("receiver down → 500 → 500 → hang → up: delivered once after {attempts} attempts; status {delivered}");
    assert!(
        attempts >= 5,
        "refused, 500, 500, timeout, delivered: {attempts}"
    );

    // The test button: the receiver answers now.
    let id = delivered["id"].as_i64().unwrap();
    let test: Value = client
        .post(format!("{}/api/contact-points/{id}/test", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(test["delivered"], true, "{test}");
    app.stop().await;
}

/// Milliseconds each of `n` calls of `call` took, sorted.
async fn latencies<F, Fut>(n: usize, mut call: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let status = call().await;
        assert!(status.is_success(), "{status}");
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(f64::total_cmp);
    out
}

#[tokio::test]
async fn twenty_hanging_receivers_starve_neither_ingest_nor_pages() {
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_SEND_TIMEOUT", "20s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
    ])
    .await;
    app.add_user("root", Role::Admin).await;
    let client = app.signed_in("root").await;
    // Receivers that accept the connection and never answer.
    let hung = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    {
        let hung = hung.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                hung.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
    }
    for i in 0..20 {
        let res = client
            .post(format!("{}/api/contact-points", app.base))
            .json(&json!({ "name": format!("hang-{i}"), "kind": "webhook", "url": format!("http://{addr}/hook/{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let (_, token) = Tokens::new(app.pool.clone())
        .create("gw", &[Scope::Ingest], None, "test")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let push = || {
        let (http, base, token) = (http.clone(), app.base.clone(), token.clone());
        async move {
            http.post(format!("{base}/api/v1/ingest?source=load"))
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body(batch_body(
                    chrono::Utc::now().timestamp_millis() - 3_600_000,
                ))
                .send()
                .await
                .map(|r| r.status())
                .unwrap_or(StatusCode::BAD_GATEWAY)
        }
    };
    let page = || {
        let client = client.clone();
        let base = app.base.clone();
        async move {
            client
                .get(format!("{base}/alerts"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let server_fn = || {
        let client = client.clone();
        let base = app.base.clone();
        async move {
            client
                .post(format!("{base}/api/fn/sources"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let before = (
        latencies(10, push).await,
        latencies(10, page).await,
        latencies(10, server_fn).await,
    );

    firing_rule(&app, &client, &token).await;
    eventually(Duration::from_secs(20), "20 receivers hanging", || async {
        (hung.load(Ordering::SeqCst) >= 20).then_some(())
    })
    .await;
    let during = (
        latencies(10, push).await,
        latencies(10, page).await,
        latencies(10, server_fn).await,
    );
    let worst = |v: &Vec<f64>| *v.last().unwrap();
    let median = |v: &Vec<f64>| v[v.len() / 2];
    eprintln!(
        "20 hanging receivers: push median {:.1} → {:.1} ms (max {:.1}), page {:.1} → {:.1} ms (max {:.1}), \
         server function {:.1} → {:.1} ms (max {:.1})",
        median(&before.0), median(&during.0), worst(&during.0),
        median(&before.1), median(&during.1), worst(&during.1),
        median(&before.2), median(&during.2), worst(&during.2),
    );
    assert!(
        hung.load(Ordering::SeqCst) >= 20,
        "the receivers are still hanging"
    );
    for (what, b, d) in [
        ("push", &before.0, &during.0),
        ("page", &before.1, &during.1),
        ("server function", &before.2, &during.2),
    ] {
        assert!(
            worst(d) < 2000.0 && median(d) < median(b) * 5.0 + 100.0,
            "{what} slowed down by hanging receivers: before {b:?}, during {d:?}"
        );
    }
    app.stop().await;
}
