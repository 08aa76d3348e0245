//! Runtime sources: an admin creates, changes, disables and deletes Prometheus sources while mcpulse runs, through
//! REST and the server functions; bad definitions are refused naming the field; sources of `mcpulse.toml` stay
//! read-only; stored sources survive a restart; a definition can be tried without storing it.

use crate::helpers::{eventually, spawn_app, spawn_app_with_config, TestApp};
use app::types::Role;
use axum::extract::{Path, State};
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What each path of the test exporter serves.
const EXPOSITIONS: &[(&str, &str)] = &[
    (
        "a",
        "a_total{tool=\"search\"} 1\na_total{tool=\"fetch\"} 2\n",
    ),
    ("b", "b_total 3\n"),
];

/// Hits per path of the exporter.
type Hits = Arc<Mutex<BTreeMap<String, usize>>>;

async fn exporter() -> (String, Hits) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route(
            "/{path}",
            get(
                |State(hits): State<Hits>, Path(path): Path<String>| async move {
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    EXPOSITIONS
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, body)| (StatusCode::OK, *body))
                        .unwrap_or((StatusCode::NOT_FOUND, "no such path"))
                },
            ),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

fn hits_of(hits: &Hits, path: &str) -> usize {
    hits.lock().unwrap().get(path).copied().unwrap_or(0)
}

async fn admin(app: &TestApp) -> reqwest::Client {
    app.add_user("root", Role::Admin).await;
    app.signed_in("root").await
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, format!("{}{path}", app.base));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn source(app: &TestApp, client: &reqwest::Client, id: &str) -> Option<Value> {
    let body: Value = app.get(client, "/api/sources").await.json().await.ok()?;
    body["sources"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
}

async fn source_ids(app: &TestApp, client: &reqwest::Client) -> Vec<String> {
    let body: Value = app.get(client, "/api/sources").await.json().await.unwrap();
    body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// No round of a stopped source happens any more: while the collector runs `self` (every second) for more than two
/// of the stopped source's intervals, the count of hits stays put. The witness is the collector's own work, not a
/// timer.
async fn assert_no_more_hits(
    app: &TestApp,
    hits: &Hits,
    path: &str,
    interval: Duration,
    why: &str,
) {
    let before = hits_of(hits, path);
    let rounds = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM samples_in('-infinity', 'infinity') x JOIN series s ON s.id = x.series_id WHERE s.source = 'self' AND s.metric = 'up'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let start = rounds().await;
    let needed = (interval.as_secs_f64() * 2.0).ceil() as i64 + 1;
    eventually(Duration::from_secs(30), "rounds of self", || async {
        (rounds().await >= start + needed).then_some(())
    })
    .await;
    assert_eq!(hits_of(hits, path), before, "{why}");
}

#[tokio::test]
async fn an_admin_creates_changes_disables_and_deletes_a_source() {
    let (exporter, hits) = exporter().await;
    let app = spawn_app().await;
    let client = admin(&app).await;

    // Create: stored, scheduled, and its samples arrive with the source's labels.
    let (status, body) = send(
        &app,
        &client,
        reqwest::Method::POST,
        "/api/sources",
        Some(json!({
            "id": "edge", "name": "Edge gateway", "kind": "prometheus", "target": format!("{exporter}/a"),
            "interval": "1s", "labels": { "team": "edge" }
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["source"]["origin"], "runtime");
    assert_eq!(body["source"]["enabled"], true);
    let up = eventually(Duration::from_secs(10), "edge to be up", || async {
        let s = source(&app, &client, "edge").await?;
        (s["up"] == true).then_some(s)
    })
    .await;
    assert_eq!(up["last_samples"], 2, "{up}");
    assert_eq!(up["name"], "Edge gateway");
    assert!(up["last_scrape"].is_string() && up["last_duration_ms"].is_number());
    eventually(Duration::from_secs(10), "edge's samples", || async {
        let body: Value = app
            .get(&client, "/api/timeseries?metric=a_total&sources=edge&start=-5m&interval=5m&group_by=tool,team")
            .await
            .json()
            .await
            .ok()?;
        let series = body["series"].as_array()?;
        (series.len() == 2 && series.iter().all(|s| s["labels"]["team"] == "edge")).then_some(())
    })
    .await;

    // Update: a new target and interval take effect.
    let (status, body) = send(
        &app,
        &client,
        reqwest::Method::PUT,
        "/api/sources/edge",
        Some(json!({ "kind": "prometheus", "target": format!("{exporter}/b"), "interval": "2s" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"]["interval_secs"], 2.0);
    assert_eq!(
        body["source"]["definition"]["target"],
        format!("{exporter}/b")
    );
    assert_eq!(
        body["source"]["name"], "edge",
        "an omitted name falls back to the id"
    );
    eventually(
        Duration::from_secs(10),
        "the new target to be scraped",
        || async { (hits_of(&hits, "b") > 0).then_some(()) },
    )
    .await;
    assert_no_more_hits(
        &app,
        &hits,
        "a",
        Duration::from_secs(1),
        "the old target is no longer scraped",
    )
    .await;

    // Disable (through the server function, as the sources page does): kept, shown as disabled, not collected.
    let args = [
        ("id", "edge"),
        ("definition[kind]", "prometheus"),
        ("definition[target]", &format!("{exporter}/b")),
        ("definition[interval]", "2s"),
        ("definition[enabled]", "false"),
    ];
    let res = app.call(&client, "source_update", &args).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let disabled = source(&app, &client, "edge")
        .await
        .expect("a disabled source is listed");
    assert_eq!(
        (disabled["enabled"].as_bool(), disabled["up"].is_null()),
        (Some(false), true),
        "{disabled}"
    );
    assert_no_more_hits(
        &app,
        &hits,
        "b",
        Duration::from_secs(2),
        "a disabled source is not collected",
    )
    .await;

    // Enable again, then delete (server function): gone from the list, no longer collected.
    let mut enabled = args;
    enabled[4] = ("definition[enabled]", "true");
    assert_eq!(
        app.call(&client, "source_update", &enabled).await.status(),
        StatusCode::OK
    );
    let before = hits_of(&hits, "b");
    eventually(Duration::from_secs(10), "collection to resume", || async {
        (hits_of(&hits, "b") > before).then_some(())
    })
    .await;
    let res = app.call(&client, "source_delete", &[("id", "edge")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(source_ids(&app, &client).await, ["self", "self-mcp"]);
    assert_no_more_hits(
        &app,
        &hits,
        "b",
        Duration::from_secs(2),
        "a deleted source is not collected",
    )
    .await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sources")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let (status, _) = send(
        &app,
        &client,
        reqwest::Method::DELETE,
        "/api/sources/edge",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
    app.stop().await;
}

#[tokio::test]
async fn bad_definitions_are_refused_naming_the_field_and_change_nothing() {
    let (exporter, _) = exporter().await;
    let config = format!(
        "[[sources]]\nid = \"cfg\"\nkind = \"prometheus\"\ntarget = \"{exporter}/a\"\ninterval = \"1s\"\n"
    );
    let app = spawn_app_with_config(Some(&config), &[]).await;
    let client = admin(&app).await;
    let good = |id: &str| json!({ "id": id, "kind": "prometheus", "target": format!("{exporter}/a"), "interval": "10s" });
    let with = |key: &str, value: Value| {
        let mut def = good("new");
        def[key] = value;
        def
    };
    let cases = [
        (with("id", json!("bad id")), "id", "a space in the id"),
        (with("id", json!("")), "id", "no id"),
        (good("self"), "id", "the built-in source's id"),
        (good("cfg"), "id", "a configured source's id"),
        (
            with("target", json!("ftp://host/metrics")),
            "target",
            "not http",
        ),
        (with("target", json!("not a url")), "target", "not a URL"),
        (with("kind", json!("snmp")), "kind", "unknown kind"),
        (
            with("interval", json!("100ms")),
            "interval",
            "interval below 1s",
        ),
        (
            with("timeout", json!("20s")),
            "timeout",
            "timeout above the interval",
        ),
        (
            with("labels", json!({ "bad-name": "x" })),
            "labels",
            "a bad label name",
        ),
        (with("tagret", json!("x")), "body", "an unknown field"),
    ];
    for (def, field, why) in cases {
        let (status, body) = send(
            &app,
            &client,
            reqwest::Method::POST,
            "/api/sources",
            Some(def),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {body}");
        assert_eq!(body["kind"]["Invalid"]["field"], field, "{why}: {body}");
    }
    assert_eq!(
        source_ids(&app, &client).await,
        ["cfg", "self", "self-mcp"],
        "nothing was created"
    );

    // A bad change leaves the source as it was.
    let (status, _) = send(
        &app,
        &client,
        reqwest::Method::POST,
        "/api/sources",
        Some(good("ok")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut bad = good("ok");
    bad["timeout"] = json!("1m");
    let (status, body) = send(
        &app,
        &client,
        reqwest::Method::PUT,
        "/api/sources/ok",
        Some(bad),
    )
    .await;
    assert_eq!(
        (status, &body["kind"]["Invalid"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("timeout"))
    );
    let (status, body) = send(
        &app,
        &client,
        reqwest::Method::PUT,
        "/api/sources/ok",
        Some(good("renamed")),
    )
    .await;
    assert_eq!(
        (status, &body["kind"]["Invalid"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("id"))
    );
    let ok = source(&app, &client, "ok").await.unwrap();
    assert_eq!(ok["interval_secs"], 10.0, "{ok}");

    // Sources of mcpulse.toml and the built-in one are read-only; unknown ones are not found.
    let cfg = source(&app, &client, "cfg").await.unwrap();
    assert_eq!(cfg["origin"], "config");
    for (method, path, body, want) in [
        (
            reqwest::Method::PUT,
            "/api/sources/cfg",
            Some(good("cfg")),
            StatusCode::CONFLICT,
        ),
        (
            reqwest::Method::DELETE,
            "/api/sources/cfg",
            None,
            StatusCode::CONFLICT,
        ),
        (
            reqwest::Method::DELETE,
            "/api/sources/self",
            None,
            StatusCode::CONFLICT,
        ),
        (
            reqwest::Method::PUT,
            "/api/sources/nope",
            Some(good("nope")),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = send(&app, &client, method.clone(), path, body).await;
        assert_eq!(status, want, "{method} {path}: {body}");
    }
    assert!(source(&app, &client, "cfg").await.is_some());
    app.stop().await;
}

#[tokio::test]
async fn stored_sources_survive_a_restart() {
    let (exporter, hits) = exporter().await;
    let app = spawn_app().await;
    let client = admin(&app).await;
    for (id, enabled) in [("kept", true), ("resting", false)] {
        let (status, body) = send(
            &app,
            &client,
            reqwest::Method::POST,
            "/api/sources",
            Some(json!({ "id": id, "kind": "prometheus", "target": format!("{exporter}/a"),
                         "interval": "1s", "timeout": "800ms", "labels": { "zone": "eu" }, "enabled": enabled })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let app = app.restart().await;
    let client = app.signed_in("root").await;
    let before = hits_of(&hits, "a");
    let kept = eventually(
        Duration::from_secs(10),
        "the stored source to be collected again",
        || async {
            let s = source(&app, &client, "kept").await?;
            (s["up"] == true && hits_of(&hits, "a") > before).then_some(s)
        },
    )
    .await;
    assert_eq!(kept["origin"], "runtime");
    assert_eq!(kept["definition"]["timeout"], "800ms");
    assert_eq!(kept["definition"]["labels"]["zone"], "eu");
    let resting = source(&app, &client, "resting").await.unwrap();
    assert_eq!(resting["enabled"], false, "{resting}");
    app.stop().await;
}

#[tokio::test]
async fn a_definition_is_tested_without_being_stored() {
    let (exporter, _) = exporter().await;
    let unreachable = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let app = spawn_app().await;
    let client = admin(&app).await;

    let (status, good) = send(
        &app,
        &client,
        reqwest::Method::POST,
        "/api/sources/test",
        Some(json!({ "kind": "prometheus", "target": format!("{exporter}/a") })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{good}");
    assert_eq!(
        (good["ok"].as_bool(), good["samples"].as_u64()),
        (Some(true), Some(2)),
        "{good}"
    );
    assert_eq!(good["metric_names"], json!(["a_total"]));

    let (status, bad) = send(
        &app,
        &client,
        reqwest::Method::POST,
        "/api/sources/test",
        Some(json!({ "id": "down", "kind": "prometheus", "target": format!("http://{unreachable}/metrics") })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bad}");
    assert_eq!(bad["ok"], false);
    assert!(
        bad["error"].as_str().unwrap().contains("cannot connect"),
        "{bad}"
    );

    // The server function answers the same; a bad definition is refused.
    let res = app
        .call(
            &client,
            "source_test",
            &[
                ("definition[kind]", "prometheus"),
                ("definition[target]", &format!("{exporter}/b")),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["samples"], 1, "{body}");
    let res = app
        .call(
            &client,
            "source_test",
            &[
                ("definition[kind]", "prometheus"),
                ("definition[target]", "nope"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        source_ids(&app, &client).await,
        ["self", "self-mcp"],
        "nothing was stored"
    );
    app.stop().await;
}
#[tokio::test]
async fn the_sources_page_shows_edit_controls_to_admins_only() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    app.add_user("watcher", Role::Viewer).await;
    let viewer = app.signed_in("watcher").await;

    let html = app.get(&admin, "/sources").await.text().await.unwrap();
    assert!(html.contains("data-source=\"self\""), "{html}");
    assert!(
        html.contains("id=\"source-form\""),
        "admins get the form: {html}"
    );
    let res = app.get(&viewer, "/sources").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-source=\"self\""), "{html}");
    assert!(
        !html.contains("id=\"source-form\"") && !html.contains("data-action=\"delete\""),
        "viewers get no edit controls"
    );
    app.stop().await;
}
