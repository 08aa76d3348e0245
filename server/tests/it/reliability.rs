//! The paths users rely on every minute, under load: alerts that follow data (no data is NoData, never
//! "resolved"), pushes of the same series by several clients at once (no deadlock, every sample stored once),
//! sessions that survive concurrent requests and activity, contact points that hang without starving anyone, and
//! collection writes that survive their source being cancelled.
//!
//! Load comes from the test itself: clients pushing batches of many series, the 1 s collection of `self`, and a
//! busy loop on one core (`Busy`). `MCPULSE_SOAK_SECS` lengthens the alert soak (default 20 s).

use crate::helpers::{eventually, spawn_app_with, TestApp};
use app::types::Role;
use mcpulse::auth::tokens::{Scope, Tokens};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A thread spinning on one core until dropped: the machine is busy, as under a build.
struct Busy(Arc<AtomicBool>);

impl Busy {
    fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut x: u64 = 1;
            while !flag.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                std::hint::black_box(x);
            }
        });
        Busy(stop)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn ingest_token(app: &TestApp, name: &str) -> String {
    Tokens::new(app.pool.clone())
        .create(name, &[Scope::Ingest], None, "test")
        .await
        .unwrap()
        .1
}

/// Prometheus text of `series` gauges `load_<i>{shard}` at `ts_ms`, `points` samples each a second apart.
fn batch(series: usize, points: usize, ts_ms: i64, value: f64) -> String {
    let mut out = String::with_capacity(series * points * 40);
    for i in 0..series {
        for p in 0..points {
            out.push_str(&format!(
                "load_{}{{shard=\"{}\"}} {} {}\n",
                i % 10,
                i / 10,
                value + p as f64,
                ts_ms + p as i64 * 1000
            ));
        }
    }
    out
}

async fn push_text(
    client: &reqwest::Client,
    app: &TestApp,
    token: &str,
    source: &str,
    body: String,
) -> StatusCode {
    client
        .post(format!("{}/api/v1/ingest?source={source}", app.base))
        .bearer_auth(token)
        .header("content-type", "text/plain; version=0.0.4")
        .body(body)
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

async fn history(app: &TestApp, rule: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT e.phase, e.notice FROM alert_events e JOIN alert_rules r ON r.id = e.rule_id
         WHERE r.name = $1 ORDER BY e.id",
    )
    .bind(rule)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn alert_of(app: &TestApp, client: &reqwest::Client, rule: &str) -> Option<Value> {
    let body: Value = app.get(client, "/api/alerts").await.json().await.ok()?;
    body["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["rule_name"] == rule)
        .cloned()
}

/// Rules on `self` and on a pushed series hold for the whole soak while four clients push batches and a core is
/// busy: they fire once and never resolve. Then the pushed series stops: after its lookback the alert is NoData
/// (still firing, still acknowledged, one `no_data` notice), and when data returns it is plain firing again.
#[tokio::test]
async fn alerts_follow_data_under_load_and_no_data_never_resolves() {
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("COLLECTION_INTERVAL", "1s"),
    ])
    .await;
    app.add_user("oncall", Role::Editor).await;
    let client = app.signed_in("oncall").await;
    let token = ingest_token(&app, "gateway").await;
    let _busy = Busy::start();

    // The watched pushed series, pushed every 300 ms by its own task.
    let pushing = Arc::new(AtomicBool::new(true));
    let heartbeat = {
        let (base, token, pushing) = (app.base.clone(), token.clone(), pushing.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                if pushing.load(Ordering::Relaxed) {
                    let _ = http
                        .post(format!("{base}/api/v1/ingest?source=watched"))
                        .bearer_auth(&token)
                        .header("content-type", "text/plain")
                        .body("queue_depth 50\n")
                        .send()
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    // Background load: four clients pushing 500 series × 5 points each, in a loop.
    let stop_load = Arc::new(AtomicBool::new(false));
    let pushed_batches = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for c in 0..4 {
        let (base, token, stop, count) = (
            app.base.clone(),
            token.clone(),
            stop_load.clone(),
            pushed_batches.clone(),
        );
        load.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut round = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let ts = chrono::Utc::now().timestamp_millis() - 60_000 + c * 7 + round;
                let res = http
                    .post(format!("{base}/api/v1/ingest?source=load"))
                    .bearer_auth(&token)
                    .header("content-type", "text/plain")
                    .body(batch(500, 5, ts, round as f64))
                    .send()
                    .await;
                assert_eq!(
                    res.map(|r| r.status()).ok(),
                    Some(StatusCode::OK),
                    "a load push failed"
                );
                count.fetch_add(1, Ordering::Relaxed);
                round += 1;
            }
        }));
    }
    eventually(Duration::from_secs(20), "the watched series", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM series WHERE source = 'watched'")
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (n > 0).then_some(())
    })
    .await;
    for rule in [
        json!({ "name": "Memory", "metric": "process_resident_memory_bytes", "sources": ["self"],
                "condition": ">", "threshold": "1048576", "for": "2s" }),
        json!({ "name": "Queue", "metric": "queue_depth", "sources": ["watched"],
                "condition": ">", "threshold": "10", "for": "1s", "window": "10s" }),
    ] {
        let res = client
            .post(format!("{}/api/rules", app.base))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    }
    for rule in ["Memory", "Queue"] {
        eventually(
            Duration::from_secs(20),
            &format!("{rule} firing"),
            || async {
                alert_of(&app, &client, rule)
                    .await
                    .filter(|a| a["state"] == "firing")
            },
        )
        .await;
    }
    let queue = alert_of(&app, &client, "Queue").await.unwrap();
    let res = client
        .post(format!("{}/api/alerts/ack", app.base))
        .json(&json!({ "rule_id": queue["rule_id"], "series_id": queue["series_id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // The soak: evaluations run every second against data arriving all the time.
    let soak: u64 = std::env::var("MCPULSE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let evaluated_before: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT min(evaluated_at) FROM alert_rules")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_secs(soak)).await;
    let evaluated_after: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT min(evaluated_at) FROM alert_rules")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        evaluated_after > evaluated_before,
        "the rules were evaluated during the soak"
    );
    let expected = vec![
        ("pending".to_string(), None),
        ("firing".to_string(), Some("firing".to_string())),
    ];
    assert_eq!(
        history(&app, "Memory").await,
        expected,
        "Memory: no spurious transition"
    );
    let queue_history = history(&app, "Queue").await;
    assert_eq!(
        queue_history
            .iter()
            .filter(|(phase, notice)| notice.as_deref() != Some("acknowledged") || phase != "firing")
            .cloned()
            .collect::<Vec<_>>(),
        expected,
        "Queue: no spurious transition"
    );
    assert!(
        pushed_batches.load(Ordering::Relaxed) >= 8,
        "the load ran: {} batches",
        pushed_batches.load(Ordering::Relaxed)
    );

    // A gap longer than the lookback (10 s: a push delayed by a busy machine is not a gap): NoData, not resolved;
    // the acknowledgement stays.
    pushing.store(false, Ordering::Relaxed);
    let quiet = eventually(Duration::from_secs(40), "Queue no data", || async {
        alert_of(&app, &client, "Queue")
            .await
            .filter(|a| a["health"] == "nodata")
    })
    .await;
    assert_eq!(quiet["state"], "firing", "{quiet}");
    assert_eq!(quiet["acknowledged_by"], "oncall", "{quiet}");
    let rules: Value = app.get(&client, "/api/rules").await.json().await.unwrap();
    let queue_rule = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Queue")
        .unwrap();
    assert_eq!(queue_rule["health"], "nodata", "{queue_rule}");
    pushing.store(true, Ordering::Relaxed);
    let back = eventually(Duration::from_secs(20), "Queue data again", || async {
        alert_of(&app, &client, "Queue")
            .await
            .filter(|a| a["health"] == "ok")
    })
    .await;
    assert_eq!(back["state"], "firing");
    assert_eq!(back["acknowledged_by"], "oncall", "{back}");
    let notices: Vec<Option<String>> = history(&app, "Queue")
        .await
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(
        notices,
        vec![
            None,
            Some("firing".into()),
            Some("acknowledged".into()),
            Some("no_data".into())
        ],
        "one no_data notice and nothing resolved"
    );
    assert_eq!(history(&app, "Memory").await, expected);

    stop_load.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    heartbeat.abort();
    app.stop().await;
}

/// `no_data = "ok"` is the user's explicit choice that silence means fine: then, and only then, a gap resolves.
#[tokio::test]
async fn no_data_ok_resolves_on_a_gap_and_no_data_alerting_fires_on_one() {
    let app = spawn_app_with(&[("MCPULSE_ALERTS_INTERVAL", "1s")]).await;
    app.add_user("oncall", Role::Editor).await;
    let client = app.signed_in("oncall").await;
    let token = ingest_token(&app, "gw").await;
    let http = reqwest::Client::new();
    assert_eq!(
        push_text(&http, &app, &token, "gap", "depth 50\n".into()).await,
        StatusCode::OK
    );
    for (name, no_data, threshold) in [
        ("Fine when quiet", "ok", "10"),
        ("Page when quiet", "alerting", "100"),
    ] {
        let res = client
            .post(format!("{}/api/rules", app.base))
            .json(
                &json!({ "name": name, "metric": "depth", "condition": ">", "threshold": threshold,
                           "window": "2s", "no_data": no_data }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let bad = client
        .post(format!("{}/api/rules", app.base))
        .json(&json!({ "name": "x", "metric": "depth", "condition": ">", "threshold": "1", "no_data": "maybe" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["kind"]["Invalid"]["field"], "no_data", "{err}");

    eventually(
        Duration::from_secs(15),
        "Fine when quiet firing",
        || async {
            alert_of(&app, &client, "Fine when quiet")
                .await
                .filter(|a| a["state"] == "firing")
        },
    )
    .await;
    // The series goes quiet (nothing more is pushed): with `ok` the alert resolves; "Page when quiet" was never
    // active (50 < 100), so nothing of it changes.
    let resolved = eventually(
        Duration::from_secs(15),
        "Fine when quiet resolved",
        || async {
            alert_of(&app, &client, "Fine when quiet")
                .await
                .filter(|a| a["state"] == "resolved")
        },
    )
    .await;
    assert_eq!(resolved["health"], "nodata", "{resolved}");
    assert!(alert_of(&app, &client, "Page when quiet").await.is_none());
    app.stop().await;
}

/// Eight clients push the same 1,100 new series at once, then in a loop: every request 200 and every sample stored
/// exactly once (no deadlock between their transactions, one row per series).
#[tokio::test]
async fn eight_clients_pushing_the_same_series_never_deadlock() {
    let app = spawn_app_with(&[]).await;
    let token = ingest_token(&app, "gateways").await;
    let _busy = Busy::start();
    const CLIENTS: i64 = 8;
    const ROUNDS: i64 = 16;
    const SERIES: usize = 1100;
    const POINTS: usize = 2;
    let start_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS as usize));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (base, token, barrier) = (app.base.clone(), token.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            for round in 0..ROUNDS {
                // Each client and round has its own instants, so every sample is distinct.
                let ts = start_ms + (c * ROUNDS + round) * (POINTS as i64) * 1000;
                let body = batch(SERIES, POINTS, ts, c as f64);
                if round == 0 {
                    barrier.wait().await; // all first pushes at once: every series is new to all of them
                }
                let res = http
                    .post(format!("{base}/api/v1/ingest?source=shared"))
                    .bearer_auth(&token)
                    .header("content-type", "text/plain")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                statuses.push((status, res.text().await.unwrap_or_default()));
            }
            statuses
        }));
    }
    for task in tasks {
        for (status, body) in task.await.unwrap() {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let series: i64 = sqlx::query_scalar("SELECT count(*) FROM series WHERE source = 'shared'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(series, SERIES as i64, "one row per series");
    let (samples, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (x.series_id, x.ts)) FROM samples_in('-infinity', 'infinity') x
         JOIN series s ON s.id = x.series_id WHERE s.source = 'shared'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let expected = CLIENTS * ROUNDS * (SERIES * POINTS) as i64;
    assert_eq!(
        (samples, distinct),
        (expected, expected),
        "every sample stored exactly once"
    );
    app.stop().await;
}

/// A push that would create one source more than `ingest.max_sources` is refused whole, naming the limit; existing
/// sources keep flowing.
#[tokio::test]
async fn pushes_beyond_max_sources_are_refused_whole() {
    let app = spawn_app_with(&[("MCPULSE_INGEST_MAX_SOURCES", "3")]).await;
    let token = ingest_token(&app, "gw").await;
    let http = reqwest::Client::new();
    // `self` and `self-mcp` are two sources already.
    assert_eq!(
        push_text(&http, &app, &token, "one", "x 1\n".into()).await,
        StatusCode::OK
    );
    let res = http
        .post(format!("{}/api/v1/ingest?source=two", app.base))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("x 1\n")
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    // Depending on whether self-mcp has stored a round yet, `two` may still fit; a fourth never does.
    if status == StatusCode::OK {
        let res = http
            .post(format!("{}/api/v1/ingest?source=three", app.base))
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .body("x 1\n")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.text().await.unwrap().contains("ingest.max_sources"));
    } else {
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(body.contains("ingest.max_sources"), "{body}");
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM series WHERE source IN ('three') OR (source = 'two' AND $1)",
    )
    .bind(status != StatusCode::OK)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "nothing of a refused push is stored");
    assert_eq!(
        push_text(&http, &app, &token, "one", "x 2\n".into()).await,
        StatusCode::OK
    );
    app.stop().await;
}

/// sqlx 0.8 returns a connection to its pool inside a transaction when the future that sent `BEGIN` is cancelled
/// before the answer arrives; every later statement on it would run in that transaction, unseen and finally lost.
/// mcpulse's pool checks each released connection and closes such a one: after hundreds of cancelled `BEGIN`s, no
/// connection handed out is inside a transaction. (The same loop on a plain pool is printed as evidence.)
#[tokio::test]
async fn a_begin_cancelled_midway_never_leaks_a_transaction() {
    let (url, name) = crate::helpers::fresh_database().await;
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    async fn leaks(pool: &sqlx::PgPool) -> usize {
        let mut leaked = 0;
        for i in 0..300u64 {
            // Cancel at different points of the exchange.
            let _ =
                tokio::time::timeout(Duration::from_micros(20 + (i % 40) * 10), pool.begin()).await;
            // Asked in one simple-protocol message (a plain string), where both are equal outside a transaction.
            use sqlx::{Executor, Row};
            let row = pool
                .fetch_one("SELECT now() <> statement_timestamp()")
                .await
                .unwrap();
            leaked += row.get::<bool, _>(0) as usize;
        }
        leaked
    }
    let plain = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    let plain_leaks = leaks(&plain).await;
    plain.close().await;
    let ours = mcpulse::db::pool_options(1)
        .connect_with(mcpulse::db::session_settings(options))
        .await
        .unwrap();
    let our_leaks = leaks(&ours).await;
    let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&ours)
        .await
        .unwrap();
    ours.close().await;
    eprintln!("cancelled BEGINs: a plain sqlx pool handed out {plain_leaks} connections inside a transaction in 300 tries; mcpulse's pool {our_leaks}");
    assert_eq!(
        our_leaks, 0,
        "mcpulse's pool never hands out a connection inside a transaction"
    );
    assert_eq!(timeout, "5min");
    crate::helpers::drop_database(&name).await;
}

/// Sources are replaced and deleted while their rounds are being written, in a loop: each round's batch (its
/// samples plus `up`) is stored whole or not at all, and no connection is left idle inside a transaction.
#[tokio::test]
async fn replacing_sources_mid_write_stores_whole_batches_only() {
    use axum::routing::get;
    // An exporter with 300 series per scrape.
    let body: String = (0..300)
        .map(|i| format!("wide_metric{{n=\"{i}\"}} {i}\n"))
        .collect();
    let exporter = axum::Router::new().route(
        "/metrics",
        get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, exporter).await });

    let app = spawn_app_with(&[]).await;
    app.add_user("root", Role::Admin).await;
    let client = app.signed_in("root").await;
    let _busy = Busy::start();
    let definition = |interval: &str| json!({ "id": "churn", "kind": "prometheus", "target": target, "interval": interval });
    let res = client
        .post(format!("{}/api/sources", app.base))
        .json(&definition("1s"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    for i in 0..40u64 {
        tokio::time::sleep(Duration::from_millis(80 + (i % 7) * 40)).await;
        let res = if i % 10 == 9 {
            client
                .delete(format!("{}/api/sources/churn", app.base))
                .send()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            client
                .post(format!("{}/api/sources", app.base))
                .json(&definition("1s"))
                .send()
                .await
                .unwrap()
        } else {
            client
                .put(format!("{}/api/sources/churn", app.base))
                .json(&definition(if i % 2 == 0 { "1s" } else { "2s" }))
                .send()
                .await
                .unwrap()
        };
        assert!(res.status().is_success(), "{}", res.status());
    }
    let churn_ended: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Let the last round land, then count per round: every stored round has all 300 series and its `up`.
    eventually(Duration::from_secs(10), "a few rounds stored", || async {
        let rounds: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM samples_in('-infinity', 'infinity') x JOIN series s ON s.id = x.series_id WHERE s.source = 'churn' AND s.metric = 'up'",
        )
        .fetch_one(&app.pool)
        .await
        .ok()?;
        (rounds >= 5).then_some(())
    })
    .await;
    client
        .delete(format!("{}/api/sources/churn", app.base))
        .send()
        .await
        .unwrap();
    let rounds: Vec<(chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
        "SELECT x.ts, count(*) FROM samples_in('-infinity', 'infinity') x JOIN series s ON s.id = x.series_id
         WHERE s.source = 'churn' GROUP BY x.ts ORDER BY x.ts",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(rounds.len() >= 5, "rounds were stored: {rounds:?}");
    for (ts, n) in &rounds {
        assert_eq!(*n, 301, "round at {ts} stored whole (300 series + up)");
    }
    // A transaction begun during the churn and still open now was left behind (work in progress — an evaluation
    // between two statements — began after it and is not counted).
    let idle_in_tx: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
           AND state LIKE 'idle in transaction%' AND xact_start < $1",
    )
    .bind(churn_ended)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(idle_in_tx, 0, "no connection is left inside a transaction");
    app.stop().await;
}

async fn only_alert(alerting: &mcpulse::alert::Alerting) -> Option<(String, String)> {
    let a = alerting.alerts().await.unwrap();
    a.first().map(|a| (a.state.clone(), a.health.clone()))
}

/// The root cause of alerts resolving while their condition held: the evaluator read a series' latest value only
/// if it was stamped at or before the evaluation instant, so a sample stored while an evaluation ran (stamped after
/// its `now`) made the series vanish — "no data" — and the alert resolved. Now the value is the latest sample at
/// or before `now` within the lookback, and a series without one is NoData, never resolved.
#[tokio::test]
async fn a_sample_stored_after_the_evaluation_instant_never_hides_the_one_before_it() {
    use mcpulse::store::{Sample, Store};
    let (url, name) = crate::helpers::fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    mcpulse::db::migrate(&pool).await.unwrap();
    let store = Store::new(pool.clone());
    let now = chrono::Utc::now() - chrono::Duration::minutes(10);
    let sample = |at: chrono::DateTime<chrono::Utc>, value: f64| Sample {
        metric: "rss_bytes".parse().unwrap(),
        source: "edge".parse().unwrap(),
        labels: Default::default(),
        ts: at,
        value,
    };
    store
        .write(&[sample(now - chrono::Duration::seconds(8), 5e6)])
        .await
        .unwrap();
    let alerting = mcpulse::alert::Alerting::new(
        pool.clone(),
        mcpulse::alert::notify::AllowList::default(),
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap()
    .with_lookback_floor(Duration::from_secs(20));
    let draft = app::types::RuleDraft {
        name: "Memory".into(),
        metric: "rss_bytes".into(),
        condition: ">".into(),
        threshold: "1048576".into(),
        window: "30s".into(),
        ..Default::default()
    };
    alerting.create_rule(&draft, "test").await.unwrap();
    alerting.evaluate(now).await.unwrap();
    assert_eq!(
        only_alert(&alerting).await,
        Some(("firing".into(), "ok".into()))
    );
    // A round lands a second after the evaluation instant (stored while an evaluation at `now` + 1 s runs).
    store
        .write(&[sample(now + chrono::Duration::seconds(3), 6e6)])
        .await
        .unwrap();
    alerting
        .evaluate(now + chrono::Duration::seconds(2))
        .await
        .unwrap();
    assert_eq!(
        only_alert(&alerting).await,
        Some(("firing".into(), "ok".into())),
        "the sample before the instant still counts: the alert holds"
    );
    // Long after the last sample (beyond the lookback): no data, and still firing.
    alerting
        .evaluate(now + chrono::Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(
        only_alert(&alerting).await,
        Some(("firing".into(), "nodata".into()))
    );
    let resolved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_events WHERE phase = 'resolved'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(resolved, 0, "nothing resolved");
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

/// The dispatcher runs on the clock it is given, as the evaluator does: a group's first notice waits `group wait`
/// after the evaluation instant, a failed send is retried only once its backoff has passed, and what it writes
/// (delivered at) is that clock's time, not the database's. No waiting in real time: each pass is one awaited call.
#[tokio::test]
async fn deliveries_wait_for_their_time_on_the_dispatchers_clock() {
    use chrono::Duration as Span;
    use mcpulse::store::{Sample, Store};
    let (url, name) = crate::helpers::fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    mcpulse::db::migrate(&pool).await.unwrap();

    // A receiver that answers 500 three times, then 200.
    let posts = Arc::new(AtomicU64::new(0));
    let counted = posts.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let allowed = mcpulse::alert::notify::AllowList(vec!["127.0.0.1".into()]);
    let alerting = mcpulse::alert::Alerting::new(
        pool.clone(),
        allowed,
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(), // group wait 5 s
    )
    .unwrap()
    .with_lookback_floor(Duration::from_secs(60));
    alerting
        .contact_points
        .create(
            &app::types::ContactPointDraft {
                name: "hook".into(),
                kind: "webhook".into(),
                url: format!("http://127.0.0.1:{port}/hook"),
                min_severity: "info".into(),
                enabled: true,
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    let t = chrono::Utc::now();
    Store::new(pool.clone())
        .write(&[Sample {
            metric: "rss_bytes".parse().unwrap(),
            source: "edge".parse().unwrap(),
            labels: Default::default(),
            ts: t - Span::seconds(5),
            value: 5e6,
        }])
        .await
        .unwrap();
    alerting
        .create_rule(
            &app::types::RuleDraft {
                name: "Memory".into(),
                metric: "rss_bytes".into(),
                condition: ">".into(),
                threshold: "1".into(),
                window: "30s".into(),
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(alerting.evaluate(t).await.unwrap().notices, 1);
    let (dispatcher, seen) = (&alerting.dispatcher, &posts);
    let pass = |at: chrono::DateTime<chrono::Utc>| async move {
        dispatcher.deliver_due(at).await.unwrap();
        seen.load(Ordering::SeqCst)
    };
    assert_eq!(pass(t + Span::seconds(1)).await, 0, "group wait holds it");
    assert_eq!(
        pass(t + Span::seconds(6)).await,
        1,
        "due after group wait: 500"
    );
    assert_eq!(pass(t + Span::seconds(60)).await, 2, "retried: 500");
    assert_eq!(pass(t + Span::seconds(120)).await, 3, "retried: 500");
    // The third failure waits about 2 s (1.6–2.4 s) on the dispatcher's clock: not due in the same instant.
    assert_eq!(pass(t + Span::seconds(120)).await, 3, "backoff holds it");
    assert_eq!(pass(t + Span::seconds(3600)).await, 4, "retried: 200");
    assert_eq!(pass(t + Span::seconds(7200)).await, 4, "delivered once");
    let (delivered_at, attempts): (chrono::DateTime<chrono::Utc>, i32) =
        sqlx::query_as("SELECT delivered_at, attempts FROM outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 4);
    let off = (delivered_at - (t + Span::seconds(3600))).num_seconds();
    assert!(
        (0..60).contains(&off),
        "delivered at the dispatcher's clock: {delivered_at} vs {}",
        t + Span::seconds(3600)
    );
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

/// A rule as a whole that cannot be checked is said, as Grafana's DatasourceError/DatasourceNoData alerts are: a
/// failing query once it has lasted the rule's `for` (always), a rule none of whose series has data under
/// `no_data = "alerting"`, each once, and its end once. Evaluations at chosen instants; the database fault is real
/// (the samples table taken away and given back).
#[tokio::test]
async fn a_rule_that_cannot_be_checked_is_notified_once_and_its_end_too() {
    use chrono::Duration as Span;
    let (url, name) = crate::helpers::fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    mcpulse::db::migrate(&pool).await.unwrap();
    let alerting = mcpulse::alert::Alerting::new(
        pool.clone(),
        mcpulse::alert::notify::AllowList::default(),
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap()
    .with_lookback_floor(Duration::from_secs(20));
    alerting
        .contact_points
        .create(
            &app::types::ContactPointDraft {
                name: "log".into(),
                kind: "console".into(),
                min_severity: "info".into(),
                enabled: true,
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    let t = chrono::Utc::now();
    let store = mcpulse::store::Store::new(pool.clone());
    let depth = |at: chrono::DateTime<chrono::Utc>, value: f64| mcpulse::store::Sample {
        metric: "queue_depth".parse().unwrap(),
        source: "edge".parse().unwrap(),
        labels: Default::default(),
        ts: at,
        value,
    };
    // Known, but its one sample is an hour old: no series has data at `t`.
    store
        .write(&[depth(t - Span::hours(1), 3.0)])
        .await
        .unwrap();
    for (rule, no_data) in [("Queue", "alerting"), ("Quiet", "keep")] {
        let draft = app::types::RuleDraft {
            name: rule.into(),
            metric: "queue_depth".into(),
            condition: ">".into(),
            threshold: "10".into(),
            window: "30s".into(),
            for_: "1m".into(),
            no_data: no_data.into(),
            ..Default::default()
        };
        alerting.create_rule(&draft, "test").await.unwrap();
    }
    // The rule-level notices queued so far: (rule, notice) in order.
    let said = || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT payload->>'alertname', payload->>'notice' FROM outbox ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        rows
    };
    // No series with data: NoData, said only after `for` and only for the rule that asks for it.
    alerting.evaluate(t).await.unwrap();
    alerting.evaluate(t + Span::seconds(30)).await.unwrap();
    assert_eq!(said().await, vec![], "not before the rule's `for`");
    alerting.evaluate(t + Span::seconds(61)).await.unwrap();
    alerting.evaluate(t + Span::seconds(90)).await.unwrap();
    let no_data = vec![("Queue".to_string(), "no_data".to_string())];
    assert_eq!(
        said().await,
        no_data,
        "once, of the rule with no_data = alerting"
    );
    let health: String =
        sqlx::query_scalar("SELECT eval_health FROM alert_rules WHERE name = 'Quiet'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(health, "nodata", "the other rule shows it without a notice");

    // The query fails (the samples table is gone): Error for both rules after `for`, once each.
    sqlx::query("ALTER TABLE samples RENAME TO samples_away")
        .execute(&pool)
        .await
        .unwrap();
    alerting.evaluate(t + Span::seconds(120)).await.unwrap();
    assert_eq!(said().await, no_data, "an error is not said before `for`");
    alerting.evaluate(t + Span::seconds(181)).await.unwrap();
    alerting.evaluate(t + Span::seconds(200)).await.unwrap();
    let mut errors = no_data.clone();
    errors.push(("Queue".into(), "error".into()));
    errors.push(("Quiet".into(), "error".into()));
    errors[1..].sort();
    let mut got = said().await;
    got[1..].sort();
    assert_eq!(got, errors, "each rule's error said once");
    let message: String = sqlx::query_scalar(
        "SELECT payload->>'message' FROM outbox WHERE payload->>'notice' = 'error' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(message.contains("query fails"), "{message}");

    // The table is back and a sample below the threshold arrives: both rules end their notified problem.
    sqlx::query("ALTER TABLE samples_away RENAME TO samples")
        .execute(&pool)
        .await
        .unwrap();
    store
        .write(&[depth(t + Span::seconds(205), 3.0)])
        .await
        .unwrap();
    alerting.evaluate(t + Span::seconds(210)).await.unwrap();
    alerting.evaluate(t + Span::seconds(220)).await.unwrap();
    let got = said().await;
    let ends: Vec<&String> = got[3..].iter().map(|(rule, _)| rule).collect();
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got[3..].iter().all(|(_, notice)| notice == "resolved"),
        "{got:?}"
    );
    assert!(ends.contains(&&"Queue".to_string()) && ends.contains(&&"Quiet".to_string()));
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}
