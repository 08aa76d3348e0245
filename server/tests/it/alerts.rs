//! Alert rules through REST and the evaluator over real stored samples: field errors, a threshold crossing that
//! fires after `for` and resolves, and state that survives a restart.

use crate::helpers::{eventually, spawn_app_with, TestApp};
use app::types::Role;
use chrono::Utc;
use mcpulse::store::{Labels, Sample, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn push(app: &TestApp, value: f64) {
    let sample = Sample {
        metric: "tool_latency_ms".parse().unwrap(),
        source: "search".parse().unwrap(),
        labels: Labels::from([("tool".to_string(), "lookup".to_string())])
            .try_into()
            .unwrap(),
        ts: Utc::now(),
        value,
    };
    Store::new(app.pool.clone())
        .write(&[sample])
        .await
        .expect("stored");
}

async fn alert(app: &TestApp, client: &reqwest::Client, rule: &str) -> Option<Value> {
    let body: Value = app.get(client, "/api/alerts").await.json().await.ok()?;
    body["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["rule_name"] == rule)
        .cloned()
}

async fn state_becomes(app: &TestApp, client: &reqwest::Client, rule: &str, state: &str) -> Value {
    eventually(
        Duration::from_secs(15),
        &format!("{rule} {state}"),
        || async {
            alert(app, client, rule)
                .await
                .filter(|a| a["state"] == state)
        },
    )
    .await
}

/// Waits until nothing in the outbox waits for delivery (after that, nothing more is sent).
async fn outbox_drained(pool: &sqlx::PgPool) {
    eventually(Duration::from_secs(20), "the outbox delivered", || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        (left == 0).then_some(())
    })
    .await;
}

/// Waits until `n` whole evaluations of every enabled rule have started after this call (each rule's
/// `evaluated_at` passed the database's clock `n` times): what an evaluation would have done is done by then.
pub(crate) async fn after_evaluations(pool: &sqlx::PgPool, n: usize) {
    for _ in 0..n {
        let t: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(pool)
            .await
            .unwrap();
        eventually(Duration::from_secs(20), "an evaluation", || async {
            let behind: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM alert_rules WHERE enabled AND (evaluated_at IS NULL OR evaluated_at <= $1)",
            )
            .bind(t)
            .fetch_one(pool)
            .await
            .ok()?;
            (behind == 0).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_threshold_crossing_fires_after_for_resolves_and_survives_a_restart() {
    let app = spawn_app_with(&[("MCPULSE_ALERTS_INTERVAL", "1s")]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    push(&app, 20.0).await;

    // Bad input names the field and stores nothing.
    let good = json!({
        "name": "Slow lookups", "metric": "tool_latency_ms", "matchers": ["tool=lookup"],
        "condition": ">", "threshold": "100", "for": "2s", "window": "1m", "severity": "critical",
        "annotations": { "summary": "lookup is slow" }
    });
    for (field, value, named) in [
        ("threshold", json!("abc"), "threshold"),
        ("threshold", json!("NaN"), "threshold"),
        ("for", json!("-5m"), "for"),
        ("severity", json!("urgent"), "severity"),
        ("metric", json!("never_reported"), "metric"),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let res = client
            .post(format!("{}/api/rules", app.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["kind"]["Invalid"]["field"], named, "{err}");
    }
    let rules: Value = app.get(&client, "/api/rules").await.json().await.unwrap();
    assert_eq!(
        rules["rules"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );

    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // A rule that waits an hour stays pending: its start must survive the restart below.
    let mut patient = good.clone();
    patient["name"] = json!("Patient");
    patient["for"] = json!("1h");
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&patient)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Below the threshold: no alert, once the rules have been evaluated.
    after_evaluations(&app.pool, 2).await;
    assert!(alert(&app, &client, "Slow lookups").await.is_none());

    push(&app, 250.0).await;
    let pending = state_becomes(&app, &client, "Slow lookups", "pending").await;
    let firing = state_becomes(&app, &client, "Slow lookups", "firing").await;
    assert_eq!(firing["active_since"], pending["active_since"]);
    let since = |a: &Value, k: &str| {
        a[k].as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };
    assert!(
        since(&firing, "firing_since") - since(&firing, "active_since")
            >= chrono::Duration::seconds(2),
        "fired only after `for`: {firing}"
    );
    assert_eq!(firing["severity"], "critical");
    assert_eq!(firing["labels"]["tool"], "lookup");
    assert_eq!(firing["value"], 250.0);
    let waiting = state_becomes(&app, &client, "Patient", "pending").await;

    // A restart resumes from the stored state: the pending alert keeps its start, the firing one its time.
    let app = app.restart().await;
    let client = app.signed_in("ed").await;
    after_evaluations(&app.pool, 2).await;
    let after = alert(&app, &client, "Patient").await.expect("still there");
    assert_eq!(after["state"], "pending");
    assert_eq!(after["active_since"], waiting["active_since"]);
    let still = alert(&app, &client, "Slow lookups").await.unwrap();
    assert_eq!(
        (still["state"].as_str(), &still["firing_since"]),
        (Some("firing"), &firing["firing_since"])
    );

    push(&app, 30.0).await;
    let resolved = state_becomes(&app, &client, "Slow lookups", "resolved").await;
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_events WHERE notice IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        events, 2,
        "one firing and one resolved notice in the history"
    );
    app.stop().await;
}

/// An HTTP receiver started by the test: records every POST (path, idempotency key, JSON body, status) and answers
/// 500 to the first `failures` posts on `/hook`, 429 to the first on `/busy`, and never to the first on `/slow`.
struct Receiver {
    url: String,
    posts: std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value, u16)>>>,
}

async fn receiver(failures: usize) -> Receiver {
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    type Posts = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value, u16)>>>;
    let posts: Posts = Default::default();
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/{path}",
            axum::routing::post(
                move |State(posts): State<Posts>,
                      Path(path): Path<String>,
                      headers: HeaderMap,
                      body: String| {
                    let failed = failed.clone();
                    async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let first = !posts.lock().unwrap().iter().any(|p| p.0 == path);
                        let status = if path == "hook"
                            && failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures
                        {
                            500
                        } else if path == "busy" && first {
                            429
                        } else if path == "slow" && first {
                            // Hang: the sender's timeout must give up on us.
                            posts.lock().unwrap().push((path, key, Value::Null, 0));
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return axum::http::StatusCode::OK;
                        } else {
                            200
                        };
                        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
                        posts.lock().unwrap().push((path, key, json, status));
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                },
            ),
        )
        .with_state(posts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, posts }
}

#[tokio::test]
async fn notifications_reach_real_receivers_once_through_retries() {
    let hook = receiver(2).await;
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
        ("MCPULSE_ALERTS_GROUP_INTERVAL", "1s"),
    ])
    .await;
    app.add_user("boss", Role::Admin).await;
    let client = app.signed_in("boss").await;
    push(&app, 20.0).await;

    let create = |body: Value| {
        let client = client.clone();
        let url = format!("{}/api/contact-points", app.base);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    // Internal addresses are refused unless allow-listed (only 127.0.0.1 is here).
    let res =
        create(json!({ "name": "internal", "kind": "webhook", "url": "http://10.1.2.3/hook" }))
            .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = create(
        json!({ "name": "ops webhook", "kind": "webhook", "url": format!("{}/hook", hook.url) }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = create(json!({ "name": "ops slack", "kind": "slack", "url": format!("{}/slack", hook.url), "min_severity": "error" })).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let listed: Value = app
        .get(&client, "/api/contact-points")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains("/hook"),
        "URLs are redacted: {listed}"
    );

    let rule = json!({
        "name": "Slow lookups", "metric": "tool_latency_ms", "condition": ">", "threshold": "100",
        "severity": "critical", "annotations": { "summary": "lookup is slow" }
    });
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    push(&app, 250.0).await;

    // Two 500s, then delivered: three posts with one idempotency key, and no more after the success.
    let delivered = || {
        hook.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _, status)| p == "hook" && *status == 200)
            .cloned()
            .collect::<Vec<_>>()
    };
    let firing = eventually(Duration::from_secs(20), "the webhook delivery", || async {
        delivered().into_iter().next()
    })
    .await;
    let body = &firing.2;
    assert_eq!(body["version"], "4", "Alertmanager webhook format: {body}");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "Slow lookups");
    assert_eq!(body["alerts"][0]["labels"]["tool"], "lookup");
    assert_eq!(
        body["alerts"][0]["annotations"]["summary"],
        "lookup is slow"
    );
    let slack = eventually(Duration::from_secs(10), "the Slack message", || async {
        hook.posts
            .lock()
            .unwrap()
            .iter()
            .find(|(p, ..)| p == "slack")
            .cloned()
    })
    .await;
    assert!(
        slack.2["text"].as_str().unwrap().contains("FIRING"),
        "{:?}",
        slack.2
    );
    // Once nothing is left to deliver, nothing more is sent.
    outbox_drained(&app.pool).await;
    let hook_posts: Vec<_> = hook
        .posts
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, ..)| p == "hook")
        .cloned()
        .collect();
    assert_eq!(
        hook_posts.len(),
        3,
        "two failures, one success: {hook_posts:?}"
    );
    assert!(
        hook_posts
            .iter()
            .all(|(_, key, ..)| *key == firing.1 && !key.is_empty()),
        "one idempotency key"
    );

    push(&app, 30.0).await;
    eventually(
        Duration::from_secs(20),
        "the resolved notification",
        || async {
            delivered()
                .into_iter()
                .find(|(_, _, b, _)| b["status"] == "resolved")
        },
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn silences_hold_notices_back_repeats_go_out_until_acknowledged() {
    let hook = receiver(0).await;
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_REPEAT_INTERVAL", "2s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
        ("MCPULSE_ALERTS_GROUP_INTERVAL", "1s"),
    ])
    .await;
    app.add_user("boss", Role::Admin).await;
    let client = app.signed_in("boss").await;
    push(&app, 20.0).await;
    let post = |path: &str, body: Value| {
        let client = client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let res = post(
        "/api/contact-points",
        json!({ "name": "ops", "kind": "webhook", "url": format!("{}/hook", hook.url) }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = post(
        "/api/silences",
        json!({ "matchers": ["alertname=Slow lookups", "tool=~look.*"], "duration": "1h", "comment": "deploying" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let silence: Value = res.json().await.unwrap();
    assert_eq!(silence["silence"]["active"], true);
    let res = post("/api/silences", json!({ "matchers": [], "duration": "1h" })).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a silence needs a matcher"
    );
    let res = post(
        "/api/rules",
        json!({ "name": "Slow lookups", "metric": "tool_latency_ms", "condition": ">", "threshold": "100" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    push(&app, 250.0).await;
    let firing = state_becomes(&app, &client, "Slow lookups", "firing").await;
    after_evaluations(&app.pool, 3).await;
    let posts = || hook.posts.lock().unwrap().clone();
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "silenced notices never enter the outbox");
    assert!(posts().is_empty(), "silenced: {:?}", posts());
    // The preview names the alerts a silence would mute, and refuses a bad matcher by name.
    let preview = |matchers: Value| post("/api/silences/preview", json!({ "matchers": matchers }));
    let res = preview(json!(["alertname=Slow lookups", "source=search"])).await;
    assert_eq!(res.status(), StatusCode::OK);
    let muted: Value = res.json().await.unwrap();
    assert_eq!(muted["alerts"].as_array().map(Vec::len), Some(1), "{muted}");
    assert_eq!(muted["alerts"][0]["rule_name"], "Slow lookups");
    let res = preview(json!(["alertname=Other"])).await;
    let muted: Value = res.json().await.unwrap();
    assert_eq!(muted["alerts"].as_array().map(Vec::len), Some(0), "{muted}");
    let res = preview(json!(["alertname"])).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The alert says who silenced it, until when and why.
    assert_eq!(firing["silenced"]["by"], "boss", "{firing}");
    assert_eq!(firing["silenced"]["comment"], "deploying");
    assert_eq!(firing["silenced"]["id"], silence["silence"]["id"]);

    // The silence ends: the next repeat goes out, and repeats follow every 2 s.
    let id = silence["silence"]["id"].as_i64().unwrap();
    let res = client
        .delete(format!("{}/api/silences/{id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let unmuted = alert(&app, &client, "Slow lookups").await.unwrap();
    assert!(unmuted["silenced"].is_null(), "{unmuted}");
    eventually(Duration::from_secs(15), "two repeats", || async {
        (posts().len() >= 2).then_some(())
    })
    .await;
    let keys: std::collections::BTreeSet<String> = posts().into_iter().map(|p| p.1).collect();
    assert!(keys.len() >= 2, "each repeat has its own idempotency key");

    // Acknowledged: no more repeats; resolving still notifies.
    let res = post(
        "/api/alerts/ack",
        json!({ "rule_id": firing["rule_id"], "series_id": firing["series_id"] }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let acked = alert(&app, &client, "Slow lookups").await.unwrap();
    assert_eq!(acked["acknowledged_by"], "boss");
    // An evaluation under way during the acknowledgement may still have queued a repeat; after that, the
    // evaluations of more than two repeat intervals queue none.
    after_evaluations(&app.pool, 1).await;
    let queued = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let settled = queued().await;
    after_evaluations(&app.pool, 5).await;
    assert_eq!(queued().await, settled, "no repeats after acknowledgement");
    push(&app, 30.0).await;
    eventually(
        Duration::from_secs(15),
        "the resolved notification",
        || async { posts().into_iter().find(|p| p.2["status"] == "resolved") },
    )
    .await;
    app.stop().await;
}

/// Starts the real binary on `url` and waits until it is ready.
pub(crate) async fn serve(url: &str, port: u16) -> std::process::Child {
    let child = crate::cli::mcpulse()
        .args(["serve"])
        .env("DATABASE_URL", url)
        .env("MCPULSE_PORT", port.to_string())
        .env("MCPULSE_ALERTS_INTERVAL", "1s")
        .env("MCPULSE_ALERTS_REPEAT_INTERVAL", "1h")
        .env("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1")
        .env("MCPULSE_ALERTS_GROUP_WAIT", "0s")
        .env("MCPULSE_ALERTS_GROUP_INTERVAL", "1s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/ready");
    eventually(Duration::from_secs(30), "/ready", || async {
        let body: Value = client.get(&ready).send().await.ok()?.json().await.ok()?;
        (body["status"] == "ready").then_some(())
    })
    .await;
    child
}

#[tokio::test]
async fn after_kill_9_pending_alerts_keep_their_start_firing_ones_are_not_resent_and_resolve() {
    let hook = receiver(0).await;
    let (url, name) = crate::helpers::fresh_database().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = serve(&url, port).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let store = Store::new(pool.clone());
    let write = |value: f64| {
        let store = &store;
        async move {
            let sample = Sample {
                metric: "tool_latency_ms".parse().unwrap(),
                source: "search".parse().unwrap(),
                labels: Default::default(),
                ts: Utc::now(),
                value,
            };
            store.write(&[sample]).await.unwrap();
        }
    };
    write(20.0).await;
    let alerting = mcpulse::alert::Alerting::new(
        pool.clone(),
        mcpulse::alert::notify::AllowList(vec!["127.0.0.1".into()]),
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap();
    alerting
        .contact_points
        .create(
            &app::types::ContactPointDraft {
                name: "ops".into(),
                url: format!("{}/hook", hook.url),
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    for (rule, wait) in [("Fast", "0"), ("Patient", "1h")] {
        let draft = app::types::RuleDraft {
            name: rule.into(),
            metric: "tool_latency_ms".into(),
            condition: ">".into(),
            threshold: "100".into(),
            for_: wait.into(),
            ..Default::default()
        };
        alerting.create_rule(&draft, "test").await.unwrap();
    }
    write(250.0).await;
    let find = |rule: &'static str| {
        let alerting = &alerting;
        async move {
            alerting
                .alerts()
                .await
                .unwrap()
                .into_iter()
                .find(|a| a.rule_name == rule)
        }
    };
    let fast = eventually(
        Duration::from_secs(15),
        "Fast firing and notified",
        || async {
            let a = find("Fast").await.filter(|a| a.state == "firing")?;
            (!hook.posts.lock().unwrap().is_empty()).then_some(a)
        },
    )
    .await;
    let patient = find("Patient").await.expect("Patient pending");
    assert_eq!(patient.state, "pending");

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut child = serve(&url, port).await;
    after_evaluations(&pool, 2).await;
    let after = find("Patient").await.unwrap();
    assert_eq!(
        (after.state.as_str(), after.active_since),
        ("pending", patient.active_since),
        "the pending alert keeps its start"
    );
    let still = find("Fast").await.unwrap();
    assert_eq!(
        (still.state.as_str(), still.firing_since),
        ("firing", fast.firing_since)
    );
    assert_eq!(
        hook.posts.lock().unwrap().len(),
        1,
        "a firing alert is not re-sent before its repeat interval"
    );

    write(30.0).await;
    eventually(
        Duration::from_secs(15),
        "the resolved notification",
        || async {
            hook.posts
                .lock()
                .unwrap()
                .iter()
                .find(|p| p.2["status"] == "resolved")
                .cloned()
        },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

#[tokio::test]
async fn email_notifications_reach_a_real_smtp_server() {
    let smtp = crate::helpers::smtp_server();
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
        ("MCPULSE_ALERTS_GROUP_INTERVAL", "1s"),
    ])
    .await;
    app.add_user("boss", Role::Admin).await;
    let client = app.signed_in("boss").await;
    push(&app, 20.0).await;
    let post = |path: &str, body: Value| {
        let client = client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let res = post(
        "/api/contact-points",
        json!({ "name": "mail", "kind": "email", "url": format!("smtp://127.0.0.1:{}?from=alerts@mcpulse.test", smtp.port) }),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no recipient"
    );
    let res = post(
        "/api/contact-points",
        json!({ "name": "mail", "kind": "email",
                "url": format!("smtp://bot:s3cret@127.0.0.1:{}?from=alerts@mcpulse.test&to=oncall@example.com&tls=none", smtp.port) }),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let listed: Value = app
        .get(&client, "/api/contact-points")
        .await
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains("s3cret"), "redacted: {listed}");
    let id = listed["contact_points"][0]["id"].as_i64().unwrap();
    client
        .delete(format!("{}/api/contact-points/{id}", app.base))
        .send()
        .await
        .unwrap();
    let res = post(
        "/api/contact-points",
        json!({ "name": "mail", "kind": "email",
                "url": format!("smtp://127.0.0.1:{}?from=alerts@mcpulse.test&to=oncall@example.com,sre@example.com&tls=none", smtp.port) }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = post(
        "/api/rules",
        json!({ "name": "Slow lookups", "metric": "tool_latency_ms", "condition": ">", "threshold": "100",
                "annotations": { "runbook_url": "https://runbooks.example/slow" } }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    push(&app, 250.0).await;
    let mail: Value = eventually(Duration::from_secs(20), "the email", || async {
        let text = std::fs::read_to_string(&smtp.mailbox).ok()?;
        serde_json::from_str(text.lines().next()?).ok()
    })
    .await;
    assert_eq!(mail["from"], "alerts@mcpulse.test");
    assert_eq!(mail["to"], json!(["oncall@example.com", "sre@example.com"]));
    let data = mail["data"].as_str().unwrap();
    assert!(data.contains("Subject: [FIRING] Slow lookups"), "{data}");
    assert!(data.contains("https://runbooks.example/slow"), "{data}");
    app.stop().await;
}

#[tokio::test]
async fn unacknowledged_alerts_escalate_to_the_next_step_acknowledged_ones_do_not() {
    let hook = receiver(0).await;
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
        ("MCPULSE_ALERTS_GROUP_INTERVAL", "1s"),
    ])
    .await;
    app.add_user("boss", Role::Admin).await;
    let client = app.signed_in("boss").await;
    let post = |path: &str, body: Value| {
        let client = client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    for (name, path, after) in [("on call", "hook", ""), ("manager", "manager", "3s")] {
        let res = post(
            "/api/contact-points",
            json!({ "name": name, "kind": "webhook", "url": format!("{}/{path}", hook.url), "escalate_after": after }),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // Routing by labels: the search team hears of its tool only.
    let res = post(
        "/api/contact-points",
        json!({ "name": "search team", "kind": "webhook", "url": format!("{}/team", hook.url), "matchers": ["tool=search"] }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = post(
        "/api/contact-points",
        json!({ "name": "bad", "kind": "console", "escalate_after": "soon" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Two tools: `lookup` is acknowledged at once, `search` is left alone.
    for tool in ["lookup", "search"] {
        let sample = Sample {
            metric: "tool_latency_ms".parse().unwrap(),
            source: "search".parse().unwrap(),
            labels: Labels::from([("tool".to_string(), tool.to_string())])
                .try_into()
                .unwrap(),
            ts: Utc::now(),
            value: 20.0,
        };
        Store::new(app.pool.clone()).write(&[sample]).await.unwrap();
    }
    let res = post(
        "/api/rules",
        json!({ "name": "Slow tools", "metric": "tool_latency_ms", "condition": ">", "threshold": "100" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for tool in ["lookup", "search"] {
        let sample = Sample {
            metric: "tool_latency_ms".parse().unwrap(),
            source: "search".parse().unwrap(),
            labels: Labels::from([("tool".to_string(), tool.to_string())])
                .try_into()
                .unwrap(),
            ts: Utc::now(),
            value: 500.0,
        };
        Store::new(app.pool.clone()).write(&[sample]).await.unwrap();
    }
    let alerts: Vec<Value> = eventually(Duration::from_secs(15), "both firing", || async {
        let body: Value = app.get(&client, "/api/alerts").await.json().await.ok()?;
        let firing: Vec<Value> = body["alerts"]
            .as_array()?
            .iter()
            .filter(|a| a["state"] == "firing")
            .cloned()
            .collect();
        (firing.len() == 2).then_some(firing)
    })
    .await;
    let lookup = alerts
        .iter()
        .find(|a| a["labels"]["tool"] == "lookup")
        .unwrap();
    let res = post(
        "/api/alerts/ack",
        json!({ "rule_id": lookup["rule_id"], "series_id": lookup["series_id"] }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let to = |path: &'static str| {
        hook.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.0 == path)
            .flat_map(|p| p.2["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| a["labels"]["tool"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(15), "the escalation", || async {
        (!to("manager").is_empty()).then_some(())
    })
    .await;
    // Evaluations after the escalation queue no second one; whatever was queued is delivered.
    after_evaluations(&app.pool, 2).await;
    outbox_drained(&app.pool).await;
    assert_eq!(
        to("manager"),
        vec!["search"],
        "only the unacknowledged alert escalates, once"
    );
    let mut first = to("hook");
    first.sort();
    assert_eq!(
        first,
        vec!["lookup", "search"],
        "the first step heard of both at once"
    );
    assert_eq!(to("team"), vec!["search"], "routed by labels");
    let posts = hook.posts.lock().unwrap().clone();
    let batch: Vec<_> = posts.iter().filter(|p| p.0 == "hook").collect();
    assert_eq!(
        batch.len(),
        1,
        "grouped by alertname: both alerts in one notification: {batch:?}"
    );
    assert_eq!(
        batch[0].2["groupLabels"],
        json!({ "alertname": "Slow tools" })
    );
    assert_eq!(batch[0].2["commonLabels"]["alertname"], "Slow tools");
    assert!(
        batch[0].2["commonLabels"].get("tool").is_none(),
        "tool differs"
    );
    app.stop().await;
}

#[tokio::test]
async fn rules_of_mcpulse_toml_are_read_only_and_a_bad_reload_keeps_them() {
    let (url, name) = crate::helpers::fresh_database().await;
    let dir = crate::cli::tempdir();
    let file = dir.join("mcpulse.toml");
    let rules = |body: &str| format!("[collection]\ninterval = \"1s\"\n{body}");
    std::fs::write(
        &file,
        rules("[[rules]]\nname = \"Down\"\nmetric = \"up\"\ncondition = \"<\"\nthreshold = 1\nfor = \"1m\"\nseverity = \"critical\"\n"),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = crate::cli::mcpulse()
        .args(["serve"])
        .env("DATABASE_URL", &url)
        .env("MCPULSE_PORT", port.to_string())
        .env("MCPULSE_CONFIG", &file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The log is the witness that a reload was tried (and refused), so the test never sleeps to prove nothing changed.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    {
        let (log, stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let names = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT name || ':' || origin FROM alert_rules ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default()
    };
    eventually(Duration::from_secs(30), "the file's rule", || async {
        (names().await == vec!["Down:config".to_string()]).then_some(())
    })
    .await;

    // Read-only through the API.
    let alerting = mcpulse::alert::Alerting::new(
        pool.clone(),
        mcpulse::alert::notify::AllowList::default(),
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM alert_rules")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(matches!(
        alerting.delete_rule(id).await,
        Err(app::error::AppError::Conflict(_))
    ));

    let hangup = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap()
    };
    // A file with a bad rule changes nothing.
    std::fs::write(
        &file,
        rules("[[rules]]\nname = \"Other\"\nmetric = \"up\"\ncondition = \"<\"\nthreshold = \"abc\"\n"),
    )
    .unwrap();
    hangup();
    let refused = eventually(Duration::from_secs(15), "the refused reload", || async {
        let log = log.lock().unwrap();
        log.lines()
            .find(|l| l.contains("the configuration file has problems"))
            .map(str::to_string)
    })
    .await;
    assert!(refused.contains("threshold"), "names the field: {refused}");
    assert_eq!(
        names().await,
        vec!["Down:config".to_string()],
        "the old rules stay"
    );
    // A good one replaces them.
    std::fs::write(
        &file,
        rules("[[rules]]\nname = \"Other\"\nmetric = \"up\"\ncondition = \"<\"\nthreshold = 0.5\n"),
    )
    .unwrap();
    hangup();
    eventually(Duration::from_secs(15), "the reloaded rules", || async {
        (names().await == vec!["Other:config".to_string()]).then_some(())
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

#[tokio::test]
async fn a_hanging_or_busy_receiver_is_retried_and_delays_no_one_else() {
    let hook = receiver(0).await;
    let app = spawn_app_with(&[
        ("MCPULSE_ALERTS_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1"),
        ("MCPULSE_ALERTS_GROUP_WAIT", "0s"),
        ("MCPULSE_ALERTS_GROUP_INTERVAL", "1s"),
        ("MCPULSE_ALERTS_SEND_TIMEOUT", "5s"),
    ])
    .await;
    app.add_user("boss", Role::Admin).await;
    let client = app.signed_in("boss").await;
    push(&app, 20.0).await;
    for path in ["slow", "busy", "fast"] {
        let res = client
            .post(format!("{}/api/contact-points", app.base))
            .json(
                &json!({ "name": path, "kind": "webhook", "url": format!("{}/{path}", hook.url) }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = client
        .post(format!("{}/api/contact-points", app.base))
        .json(
            &json!({ "name": "elk", "kind": "logstash", "url": format!("{}/logstash", hook.url) }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&json!({ "name": "Slow lookups", "metric": "tool_latency_ms", "condition": ">", "threshold": "100" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    push(&app, 250.0).await;
    let delivered = |path: &'static str| {
        hook.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.0 == path && p.3 == 200)
            .count()
    };
    // The fast receiver does not wait for the hanging one's timeout.
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(15), "the fast receiver", || async {
        (delivered("fast") == 1).then_some(())
    })
    .await;
    let fast_after = started.elapsed();
    eventually(
        Duration::from_secs(20),
        "the slow and busy receivers",
        || async { (delivered("slow") == 1 && delivered("busy") == 1).then_some(()) },
    )
    .await;
    let posts = hook.posts.lock().unwrap().clone();
    let doc = &posts
        .iter()
        .find(|p| p.0 == "logstash")
        .expect("a Logstash document")
        .2;
    assert_eq!(
        (
            doc["alertname"].as_str(),
            doc["status"].as_str(),
            doc["value"].as_f64()
        ),
        (Some("Slow lookups"), Some("firing"), Some(250.0)),
        "{doc}"
    );
    assert!(
        doc["@timestamp"].is_string() && doc["labels"]["tool"] == "lookup",
        "{doc}"
    );
    let statuses = |path: &str| {
        posts
            .iter()
            .filter(|p| p.0 == path)
            .map(|p| p.3)
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses("busy"), vec![429, 200], "429 is retried");
    assert_eq!(
        statuses("slow"),
        vec![0, 200],
        "a hang times out and is retried"
    );
    let keys: std::collections::BTreeSet<_> = posts
        .iter()
        .filter(|p| p.0 == "slow")
        .map(|p| p.1.clone())
        .collect();
    assert_eq!(keys.len(), 1, "the retry carries the same idempotency key");
    // Had the queues shared one line, the fast receiver would have waited out the 5 s hang first.
    assert!(
        fast_after < Duration::from_secs(4),
        "the fast receiver waited {fast_after:?} behind the hanging one"
    );
    app.stop().await;
}

#[tokio::test]
async fn disabling_a_firing_rule_ends_its_alerts_and_keeps_the_rest_of_the_rule() {
    let app = spawn_app_with(&[("MCPULSE_ALERTS_INTERVAL", "1s")]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    push(&app, 250.0).await;
    let rule = json!({
        "name": "Slow", "metric": "tool_latency_ms", "condition": ">", "threshold": "100", "window": "1m",
        "annotations": { "summary": "slow", "runbook_url": "https://runbooks.example/slow" }
    });
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["rule"]["id"]
        .as_i64()
        .unwrap();
    state_becomes(&app, &client, "Slow", "firing").await;

    let mut disabled = rule.clone();
    disabled["enabled"] = json!(false);
    let res = client
        .put(format!("{}/api/rules/{id}", app.base))
        .json(&disabled)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // At once, not at the next evaluation: the alert is gone from the active ones.
    let active = alert(&app, &client, "Slow").await;
    assert!(
        active
            .as_ref()
            .is_none_or(|a| a["state"] != "firing" && a["state"] != "pending"),
        "{active:?}"
    );
    let history: Value = app
        .get(&client, "/api/alerts/history")
        .await
        .json()
        .await
        .unwrap();
    let last = &history["events"][0];
    assert_eq!(last["state"], "resolved", "{history}");
    assert_eq!(last["notice"], "disabled", "{history}");
    // And stays that way while disabled: a witness rule shows two more evaluations ran (skipping this one).
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&json!({ "name": "Witness", "metric": "tool_latency_ms", "condition": ">", "threshold": "1e9" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    after_evaluations(&app.pool, 2).await;
    assert!(alert(&app, &client, "Slow")
        .await
        .is_none_or(|a| a["state"] != "firing"));
    let rules: Value = app.get(&client, "/api/rules").await.json().await.unwrap();
    let slow = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Slow")
        .unwrap();
    assert_eq!(slow["enabled"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_contact_point_changed_in_place_keeps_its_url_unless_given_and_names_bad_fields() {
    let app = spawn_app_with(&[("MCPULSE_ALERTS_ALLOWED_HOSTS", "127.0.0.1")]).await;
    app.add_user("boss", Role::Admin).await;
    let client = app.signed_in("boss").await;
    let create = |body: Value| {
        let client = client.clone();
        let url = format!("{}/api/contact-points", app.base);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let put = |id: i64, body: Value| {
        let client = client.clone();
        let url = format!("{}/api/contact-points/{id}", app.base);
        async move { client.put(url).json(&body).send().await.unwrap() }
    };
    let res = create(
        json!({ "name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/secret-path" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ops: Value = res.json().await.unwrap();
    let id = ops["contact_point"]["id"].as_i64().unwrap();
    let res = create(json!({ "name": "other", "kind": "console" })).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Renamed and raised to warnings, the URL left out: the stored one stays.
    let res = put(id, json!({ "name": "ops-team", "kind": "webhook", "min_severity": "warning", "enabled": true })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["contact_point"]["name"], "ops-team");
    assert_eq!(changed["contact_point"]["min_severity"], "warning");
    assert_eq!(changed["contact_point"]["url"], ops["contact_point"]["url"]);
    let stored: String =
        sqlx::query_scalar("SELECT settings->>'url' FROM contact_points WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, "http://127.0.0.1:9/secret-path");

    // Bad changes are refused, naming the field, and change nothing.
    for (body, field) in [
        (json!({ "name": "other", "kind": "webhook" }), "name"),
        (json!({ "name": "ops-team", "kind": "pager" }), "kind"),
        (json!({ "name": "ops-team", "kind": "slack" }), "url"),
    ] {
        let res = put(id, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(
            answer["kind"]["Invalid"]["field"], field,
            "{body}: {answer}"
        );
    }
    let name: String = sqlx::query_scalar("SELECT name FROM contact_points WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "ops-team");
    assert_eq!(
        put(9999, json!({ "name": "x", "kind": "console" }))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

/// The rule editor's backtest is the engine's evaluation: a recorded series (irregular samples, a noisy baseline
/// with bursts, a gap) replayed by `backtest` fires and resolves at exactly the instants `evaluate`, run at those
/// instants over the same stored samples, fires and resolves — for a `last` rule, a windowed average with `for`
/// and `keep_firing_for`, and a maximum whose no-data policy resolves.
#[tokio::test]
async fn the_backtest_and_the_evaluator_agree_on_a_recorded_series() {
    use mcpulse::alert::Alerting;
    use std::collections::BTreeMap;
    let (url, name) = crate::helpers::fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    mcpulse::db::migrate(&pool).await.unwrap();
    let end = Utc::now() - chrono::Duration::minutes(5);
    let start = end - chrono::Duration::hours(1);
    // A deterministic recording: every 7–13 s from ten minutes before the range, per tool.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut samples = Vec::new();
    for tool in ["search", "fetch"] {
        let mut t = start - chrono::Duration::minutes(10);
        while t <= end {
            let minute = (t - start).num_minutes();
            // Bursts at minutes 12–15 and 31–40; search goes quiet for three minutes at 45.
            let burst = (12..16).contains(&minute) || (31..41).contains(&minute);
            if !(tool == "search" && (45..48).contains(&minute)) {
                let base = if burst { 170.0 } else { 80.0 };
                samples.push(Sample {
                    metric: "tool_latency_ms".parse().unwrap(),
                    source: "mcp-a".parse().unwrap(),
                    labels: Labels::from([("tool".to_string(), tool.to_string())])
                        .try_into()
                        .unwrap(),
                    ts: t,
                    value: ((base + next() * 60.0) * 100.0).round() / 100.0,
                });
            }
            t += chrono::Duration::milliseconds(7_000 + (next() * 6_000.0) as i64);
        }
    }
    Store::new(pool.clone()).write(&samples).await.unwrap();
    let step = Duration::from_secs(10);
    let alerting = Alerting::new(
        pool.clone(),
        mcpulse::alert::notify::AllowList::default(),
        Duration::from_secs(3600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap()
    .with_lookback_floor(Duration::from_secs(20))
    .with_evaluation_interval(step);
    let rule = |name: &str,
                reduce: &str,
                window: &str,
                threshold: &str,
                for_: &str,
                keep: &str,
                no_data: &str| {
        app::types::RuleDraft {
            name: name.into(),
            metric: "tool_latency_ms".into(),
            reduce: reduce.into(),
            window: window.into(),
            condition: ">".into(),
            threshold: threshold.into(),
            for_: for_.into(),
            keep_firing_for: keep.into(),
            no_data: no_data.into(),
            enabled: true,
            ..Default::default()
        }
    };
    for draft in [
        rule("Last", "last", "30s", "200", "0", "0", "keep"),
        rule("Average", "avg", "1m", "150", "30s", "20s", "keep"),
        rule("Max", "max", "30s", "215", "0", "0", "ok"),
    ] {
        let replayed = alerting
            .backtest(&draft, end, Duration::from_secs(3600), step)
            .await
            .unwrap();
        let expected: BTreeMap<String, Vec<(i64, i64)>> = replayed
            .series
            .iter()
            .map(|s| (s.labels["tool"].clone(), s.firing.clone()))
            .collect();
        let rule = alerting.create_rule(&draft, "test").await.unwrap();
        let mut seen: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        let mut since: BTreeMap<String, i64> = BTreeMap::new();
        let mut t = start;
        while t <= end {
            alerting.evaluate(t).await.unwrap();
            let phases: Vec<(String, String)> = sqlx::query_as(
                "SELECT s.labels->>'tool', a.phase FROM alert_states a JOIN series s ON s.id = a.series_id
                 WHERE a.rule_id = $1",
            )
            .bind(rule.id)
            .fetch_all(&pool)
            .await
            .unwrap();
            for (tool, phase) in phases {
                match (phase == "firing", since.get(&tool).copied()) {
                    (true, None) => {
                        since.insert(tool, t.timestamp_millis());
                    }
                    (false, Some(from)) => {
                        seen.entry(tool.clone())
                            .or_default()
                            .push((from, t.timestamp_millis()));
                        since.remove(&tool);
                    }
                    _ => {}
                }
            }
            t += chrono::Duration::from_std(step).unwrap();
        }
        for (tool, from) in since {
            seen.entry(tool)
                .or_default()
                .push((from, end.timestamp_millis()));
        }
        let expected: BTreeMap<String, Vec<(i64, i64)>> = expected
            .into_iter()
            .filter(|(_, spans)| !spans.is_empty())
            .collect();
        assert!(
            !expected.is_empty(),
            "{}: the recording makes it fire",
            draft.name
        );
        assert_eq!(
            seen, expected,
            "{}: the evaluator against the backtest",
            draft.name
        );
        alerting.delete_rule(rule.id).await.unwrap();
    }
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}

/// One step of [`evaluation_over_fixed_instants_repeats_escalates_silences_and_stops_when_acknowledged`]: at
/// `minute` after the start (the clock is set there), optionally a sample and an action, then one evaluation.
struct Step {
    minute: i64,
    value: Option<f64>,
    act: Act,
    /// The alert's phase after the evaluation.
    phase: &'static str,
    /// The outbox rows the evaluation wrote: (contact point, notice or `escalation`).
    sent: &'static [(&'static str, &'static str)],
    /// Notices a silence held back.
    silenced: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Act {
    None,
    Acknowledge,
    Silence,
}

/// `Alerting::evaluate` on a manual clock, step by step over fixed instants: repeats every repeat interval,
/// escalation once the alert has fired unacknowledged long enough (and the escalation step then hears of the
/// resolution), acknowledgement ending repeats and escalation, and a silence holding notices back while it lasts.
#[tokio::test]
async fn evaluation_over_fixed_instants_repeats_escalates_silences_and_stops_when_acknowledged() {
    use mcpulse::alert::Alerting;
    use mcpulse::clock::ManualClock;
    let (url, name) = crate::helpers::fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    mcpulse::db::migrate(&pool).await.unwrap();
    let store = Store::new(pool.clone());
    let start: chrono::DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
    let at = |minute: i64| start + chrono::Duration::minutes(minute);
    let manual = ManualClock::new(at(-1));
    let write = |minute: i64, value: f64| {
        let store = &store;
        async move {
            let sample = Sample {
                metric: "lookup_latency_ms".parse().unwrap(),
                source: "search".parse().unwrap(),
                labels: Default::default(),
                ts: at(minute),
                value,
            };
            store.write(&[sample]).await.unwrap();
        }
    };
    write(-1, 20.0).await;
    let alerting = Alerting::new(
        pool.clone(),
        mcpulse::alert::notify::AllowList::default(),
        Duration::from_secs(600),
        mcpulse::alert::notify::Grouping::default(),
    )
    .unwrap()
    .with_lookback_floor(Duration::from_secs(120))
    .with_evaluation_interval(Duration::from_secs(60))
    .with_clock(manual.clock());
    for (point, escalate_after) in [("oncall", ""), ("lead", "15m")] {
        let draft = app::types::ContactPointDraft {
            name: point.into(),
            kind: "console".into(),
            escalate_after: escalate_after.into(),
            ..Default::default()
        };
        alerting
            .contact_points
            .create(&draft, "test")
            .await
            .unwrap();
    }
    let rule = alerting
        .create_rule(
            &app::types::RuleDraft {
                name: "SlowLookups".into(),
                metric: "lookup_latency_ms".into(),
                condition: ">".into(),
                threshold: "100".into(),
                for_: "0".into(),
                enabled: true,
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    let steps = [
        // Fires: the immediate contact point hears of it.
        Step {
            minute: 0,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[("oncall", "firing")],
            silenced: 0,
        },
        Step {
            minute: 5,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[],
            silenced: 0,
        },
        // Still firing a repeat interval (10 min) later: repeated.
        Step {
            minute: 10,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[("oncall", "firing")],
            silenced: 0,
        },
        // Firing unacknowledged for 15 min: the escalation step hears of it, once.
        Step {
            minute: 15,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[("lead", "escalation")],
            silenced: 0,
        },
        Step {
            minute: 20,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[("oncall", "firing")],
            silenced: 0,
        },
        // Acknowledged at 21: the repeat due at 30 is not sent.
        Step {
            minute: 21,
            value: None,
            act: Act::Acknowledge,
            phase: "firing",
            sent: &[],
            silenced: 0,
        },
        Step {
            minute: 30,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[],
            silenced: 0,
        },
        // Resolved: both heard of the firing, both hear of the end.
        Step {
            minute: 35,
            value: Some(50.0),
            act: Act::None,
            phase: "resolved",
            sent: &[("oncall", "resolved"), ("lead", "resolved")],
            silenced: 0,
        },
        // A silence of 30 minutes from 40: the new firing, its repeat and its escalation are held back…
        Step {
            minute: 40,
            value: Some(50.0),
            act: Act::Silence,
            phase: "resolved",
            sent: &[],
            silenced: 0,
        },
        Step {
            minute: 45,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[],
            silenced: 1,
        },
        Step {
            minute: 55,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[],
            silenced: 1,
        },
        Step {
            minute: 60,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[],
            silenced: 0,
        },
        // …and once it ended (at 70) the repeat and the escalation go out; the acknowledgement ended with the
        // earlier alert.
        Step {
            minute: 71,
            value: Some(250.0),
            act: Act::None,
            phase: "firing",
            sent: &[("oncall", "firing"), ("lead", "escalation")],
            silenced: 0,
        },
    ];
    let series_id: i64 =
        sqlx::query_scalar("SELECT id FROM series WHERE metric = 'lookup_latency_ms'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let mut seen_outbox = 0i64;
    for step in &steps {
        let what = format!("minute {}", step.minute);
        manual.set(at(step.minute));
        if let Some(value) = step.value {
            write(step.minute, value).await;
        }
        match step.act {
            Act::None => {}
            Act::Acknowledge => alerting
                .acknowledge(rule.id, series_id, "sam")
                .await
                .unwrap(),
            Act::Silence => {
                let silence = alerting
                    .silences
                    .create(
                        &app::types::SilenceDraft {
                            matchers: vec!["alertname=SlowLookups".into()],
                            starts_at: None,
                            duration: "30m".into(),
                            comment: "deploy".into(),
                        },
                        "test",
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    silence.starts_at,
                    at(step.minute),
                    "{what}: starts now by the clock"
                );
                assert!(silence.active, "{what}: active by the clock");
            }
        }
        let done = alerting.evaluate(manual.now()).await.unwrap();
        assert_eq!(done.silenced, step.silenced, "{what}: silenced notices");
        let phase: String = sqlx::query_scalar("SELECT phase FROM alert_states WHERE rule_id = $1")
            .bind(rule.id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(phase, step.phase, "{what}: phase");
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT o.id, c.name, o.idempotency_key FROM outbox o JOIN contact_points c ON c.id = o.contact_point_id
             WHERE o.id > $1 ORDER BY o.id",
        )
        .bind(seen_outbox)
        .fetch_all(&pool)
        .await
        .unwrap();
        seen_outbox = rows.iter().map(|r| r.0).max().unwrap_or(seen_outbox);
        let mut sent: Vec<(String, String)> = rows
            .iter()
            .map(|(_, point, key)| {
                let notice = key.split(':').nth(2).unwrap_or_default();
                (point.clone(), notice.to_string())
            })
            .collect();
        sent.sort();
        let mut expected: Vec<(String, String)> = step
            .sent
            .iter()
            .map(|(p, n)| (p.to_string(), n.to_string()))
            .collect();
        expected.sort();
        assert_eq!(sent, expected, "{what}: outbox rows");
        let listed = alerting.alerts().await.unwrap();
        let silenced = listed.iter().any(|a| a.silenced.is_some());
        assert_eq!(
            silenced,
            (40..70).contains(&step.minute),
            "{what}: the alert list's silence, by the clock"
        );
    }
    // The acknowledgement is in the history at the clock's time, with who made it.
    let acked: (chrono::DateTime<Utc>, Option<String>) = sqlx::query_as(
        "SELECT at, actor FROM alert_events WHERE rule_id = $1 AND notice = 'acknowledged'",
    )
    .bind(rule.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(acked, (at(21), Some("sam".to_string())));
    pool.close().await;
    crate::helpers::drop_database(&name).await;
}
