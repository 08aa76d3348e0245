//! Time-series queries through `GET /api/timeseries` over samples with known values.

use crate::helpers::{spawn_app, TestApp};
use app::types::Role;
use chrono::{DateTime, TimeZone, Utc};
use mcpulse::store::{Labels, Sample, Store};
use reqwest::StatusCode;
use serde_json::Value;

/// About an hour ago, on a 10-minute boundary (a bucket boundary for every step used here). Recent, so retention
/// (which runs at start) keeps it.
fn t0() -> DateTime<Utc> {
    let secs = (Utc::now().timestamp() - 3600).div_euclid(600) * 600;
    Utc.timestamp_opt(secs, 0).unwrap()
}

/// Source `a` (zone eu) has values 0..10 and source `b` (zone us) 100..110, one per minute from t0.
async fn seed(app: &TestApp) {
    let store = Store::new(app.pool.clone());
    let mut samples = Vec::new();
    for (source, zone, base) in [("a", "eu", 0.0), ("b", "us", 100.0)] {
        for i in 0..10 {
            samples.push(Sample {
                metric: "latency_ms".parse().unwrap(),
                source: source.parse().unwrap(),
                labels: Labels::from([("zone".to_string(), zone.to_string())])
                    .try_into()
                    .unwrap(),
                ts: t0() + chrono::Duration::minutes(i),
                value: base + i as f64,
            });
        }
    }
    if let Err(e) = store.write(&samples).await {
        panic!("seeding failed: {e:#}");
    }
}

async fn query(app: &TestApp, client: &reqwest::Client, params: &str) -> (StatusCode, Value) {
    let (start, end) = (
        t0().timestamp(),
        (t0() + chrono::Duration::minutes(10)).timestamp(),
    );
    let res = app
        .get(
            client,
            &format!("/api/timeseries?metric=latency_ms&start={start}&end={end}&{params}"),
        )
        .await;
    let status = res.status();
    (status, res.json().await.unwrap())
}

fn values(series: &Value) -> Vec<f64> {
    series["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no points in {series}"))
        .iter()
        .map(|p| p["v"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn queries_aggregate_known_data_exactly() {
    let app = spawn_app().await;
    seed(&app).await;
    app.add_user("v", Role::Viewer).await;
    let client = app.signed_in("v").await;

    // All series into one, 5-minute buckets: avg of {0..4, 100..104} = 52, of {5..9, 105..109} = 57.
    let (status, body) = query(&app, &client, "interval=5m&aggregator=avg").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["step_ms"], 300_000, "{body}");
    assert_eq!(values(&body["series"][0]), vec![52.0, 57.0], "{body}");
    assert_eq!(body["points"][0]["value"], 52.0, "seed-compatible points");
    assert_eq!(
        body["points"][0]["timestamp"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap()),
        Some(t0())
    );

    let cases = [
        ("interval=5m&aggregator=sum", vec![520.0, 570.0]),
        ("interval=5m&aggregator=min", vec![0.0, 5.0]),
        ("interval=5m&aggregator=max", vec![104.0, 109.0]),
        ("interval=5m&aggregator=count", vec![10.0, 10.0]),
        ("interval=5m&aggregator=last&sources=b", vec![104.0, 109.0]),
        ("interval=5m&aggregator=max&sources=a", vec![4.0, 9.0]),
        ("interval=10m&aggregator=avg&label=zone%3Dus", vec![104.5]),
        ("interval=10m&aggregator=avg&label=zone%21~u.*", vec![4.5]),
        (
            "interval=10m&aggregator=avg&label=zone%3D~eu%7Cus",
            vec![54.5],
        ),
    ];
    for (params, want) in cases {
        let (status, body) = query(&app, &client, params).await;
        assert_eq!(status, StatusCode::OK, "{params}: {body}");
        assert_eq!(values(&body["series"][0]), want, "{params}");
    }

    // Grouped: one series per source, with its labels.
    let (_, body) = query(&app, &client, "interval=10m&aggregator=max&group_by=source").await;
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(
        (series[0]["source"].as_str(), values(&series[0])),
        (Some("a"), vec![9.0])
    );
    assert_eq!(
        (series[1]["source"].as_str(), values(&series[1])),
        (Some("b"), vec![109.0])
    );
    let (_, body) = query(&app, &client, "interval=10m&aggregator=min&group_by=zone").await;
    assert_eq!(body["series"][1]["labels"]["zone"], "us");
    let (_, body) = query(&app, &client, "interval=10m&group_by=series").await;
    assert_eq!(body["series"].as_array().unwrap().len(), 2);

    // The step grows so no series has more than max_points buckets.
    let (_, body) = query(&app, &client, "interval=1m&max_points=2").await;
    assert_eq!(body["step_ms"], 300_000);
    assert_eq!(body["series"][0]["points"].as_array().unwrap().len(), 2);

    // Bad input is named, and a query with no data is empty rather than an error.
    let (status, body) = query(&app, &client, "aggregator=median").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().starts_with("aggregation:"),
        "{body}"
    );
    let (status, body) = query(&app, &client, "label=zone%3D~(").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The typed server function shares the parser and answers bad input with 422 too.
    let res = app
        .call(&client, "query", &[("request[metric]", "bad name")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .call(
            &client,
            "query",
            &[("request[metric]", "latency_ms"), ("request[start]", "-2h")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, body) = query(&app, &client, "sources=nobody").await;
    assert_eq!(
        (status, body["series"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_charts_any_metric_of_any_source() {
    let app = spawn_app().await;
    app.add_user("v", Role::Viewer).await;
    let client = app.signed_in("v").await;
    // Labelled samples of source `a` over the last minutes (the dashboard shows the last 15).
    let now = Utc::now();
    let samples: Vec<Sample> = (0..5)
        .flat_map(|i| {
            ["eu", "us"].map(|zone| Sample {
                metric: "latency_ms".parse().unwrap(),
                source: "a".parse().unwrap(),
                labels: Labels::from([("zone".to_string(), zone.to_string())])
                    .try_into()
                    .unwrap(),
                ts: now - chrono::Duration::minutes(5 - i),
                value: if zone == "eu" { 10.0 } else { 30.0 },
            })
        })
        .collect();
    Store::new(app.pool.clone()).write(&samples).await.unwrap();

    let res = app
        .call(&client, "dashboard", &[("chart", "a/latency_ms")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["chart_source"].as_str(), body["chart_metric"].as_str()),
        (Some("a"), Some("latency_ms"))
    );
    let points = body["points"].as_array().unwrap();
    assert_eq!(points.len(), 5, "{body}");
    assert!(
        points.iter().all(|p| p["v"] == 20.0),
        "averaged over label sets: {body}"
    );
    // The page itself renders the chosen chart and offers every metric of every source.
    let html = app
        .get(&client, "/?chart=a/latency_ms")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-source=\"a\" data-metric=\"latency_ms\""),
        "{html}"
    );
    assert!(html.contains("<option value=\"a/latency_ms\""), "{html}");

    for bad in ["latency_ms", "a/", "a/b c"] {
        let res = app.call(&client, "dashboard", &[("chart", bad)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sources_report_their_health() {
    let app = spawn_app().await;
    app.add_user("v", Role::Viewer).await;
    let client = app.signed_in("v").await;
    let body: Value = crate::helpers::eventually(
        std::time::Duration::from_secs(10),
        "self to report",
        || async {
            let body: Value = app.get(&client, "/api/sources").await.json().await.ok()?;
            (body["sources"][0]["up"] == true).then_some(body)
        },
    )
    .await;
    let me = &body["sources"][0];
    assert_eq!(
        (me["id"].as_str(), me["kind"].as_str()),
        (Some("self"), Some("self"))
    );
    assert!(
        me["last_success"].is_string() && me["last_error"].is_null(),
        "{me}"
    );
    assert!(me["last_samples"].as_u64().unwrap() >= 4, "{me}");
    app.stop().await;
}
