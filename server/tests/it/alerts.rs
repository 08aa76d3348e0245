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
        metric: "tool_latency_ms".into(),
        source: "search".into(),
        labels: Labels::from([("tool".to_string(), "lookup".to_string())]),
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

    // Below the threshold: no alert.
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
    tokio::time::sleep(Duration::from_millis(2500)).await;
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
