//! The `prometheus` source against a real HTTP endpoint served by the test: a valid exposition is stored with its
//! labels; malformed, hanging and failing endpoints are marked down with a clear error, without stopping the rest.

use crate::helpers::{eventually, spawn_app_with_config};
use app::types::Role;
use axum::routing::get;
use serde_json::Value;
use std::time::Duration;

const VALID: &str = "# HELP mcp_tool_calls_total Tool calls.\n# TYPE mcp_tool_calls_total counter\n\
mcp_tool_calls_total{tool=\"search\",status=\"ok\"} 42\nmcp_tool_calls_total{tool=\"fetch\",status=\"error\"} 3\n\
# TYPE queue_depth gauge\nqueue_depth 7.5\n";

async fn exporter() -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route("/valid", get(|| async { VALID }))
        .route(
            "/malformed",
            get(|| async { "ok_metric 1\nbroken{tool=\"x\" 2\n" }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late 1\n"
            }),
        )
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn endpoints_are_scraped_and_failures_are_reported() {
    let target = exporter().await;
    let mut file = String::new();
    for (id, path) in [
        ("good", "valid"),
        ("garbled", "malformed"),
        ("hanging", "slow"),
        ("failing", "fail"),
    ] {
        file.push_str(&format!(
            "[[sources]]\nid = \"{id}\"\nkind = \"prometheus\"\ntarget = \"http://{target}/{path}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nlabels = {{ env = \"test\" }}\n\n"
        ));
    }
    let app = spawn_app_with_config(Some(&file), &[]).await;
    app.add_user("v", Role::Viewer).await;
    let client = app.signed_in("v").await;

    let sources: Vec<Value> = eventually(
        Duration::from_secs(15),
        "every source to report",
        || async {
            let body: Value = app.get(&client, "/api/sources").await.json().await.ok()?;
            let list = body["sources"].as_array()?.clone();
            // Four declared sources, `self` and `self-mcp`.
            (list.len() == 6 && list.iter().all(|s| !s["up"].is_null())).then_some(list)
        },
    )
    .await;
    let by_id = |id: &str| sources.iter().find(|s| s["id"] == id).unwrap().clone();
    let good = by_id("good");
    assert_eq!(
        (good["up"].as_bool(), good["last_samples"].as_u64()),
        (Some(true), Some(3)),
        "{good}"
    );
    assert_eq!(good["kind"], "prometheus");
    for (id, needle) in [
        ("garbled", "line 2"),
        ("hanging", "timed out"),
        ("failing", "HTTP 500"),
    ] {
        let s = by_id(id);
        assert_eq!(s["up"], false, "{s}");
        assert!(
            s["last_error"].as_str().unwrap().contains(needle),
            "{id}: {s}"
        );
    }

    // The scraped samples are stored with their own and the source's labels.
    let body: Value = eventually(Duration::from_secs(10), "stored tool calls", || async {
        let body: Value = app
            .get(&client, "/api/timeseries?metric=mcp_tool_calls_total&start=-5m&interval=5m&aggregator=max&group_by=tool,env")
            .await
            .json()
            .await
            .ok()?;
        (body["series"].as_array()?.len() == 2).then_some(body)
    })
    .await;
    let search = body["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["labels"]["tool"] == "search")
        .unwrap();
    assert_eq!(search["labels"]["env"], "test");
    assert_eq!(search["points"][0]["v"], 42.0);
    let up: Value = app.get(&client, "/api/metrics").await.json().await.unwrap();
    let hanging = up["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source_id"] == "hanging")
        .unwrap();
    assert_eq!(
        hanging["metrics"]["up"], 0.0,
        "a failed round records up = 0"
    );

    // mcpulse's own exposition counts sources by type and parses with our own parser.
    let text = app
        .get(&app.client(), "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mcp_metrics_sources_total{type=\"prometheus\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("mcp_metrics_sources_total{type=\"self\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("mcpulse_source_up{source=\"failing\",type=\"prometheus\"} 0"),
        "{text}"
    );
    let parsed = mcpulse::collect::prometheus::parse::parse(
        &text,
        mcpulse::collect::prometheus::parse::Format::OpenMetrics,
    )
    .expect("our exposition parses");
    assert!(parsed
        .samples
        .iter()
        .any(|s| s.name == "mcpulse_http_requests_total" && s.value >= 1.0));
    app.stop().await;
}
