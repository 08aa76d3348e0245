//! Push ingest: tokens, formats, all-or-nothing batches, limits, and the series cap.

use crate::helpers::{eventually, spawn_app, TestApp};
use app::types::Role;
use mcpulse::auth::tokens::{Scope, Tokens};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn token(app: &TestApp, name: &str, scopes: &[Scope]) -> String {
    Tokens::new(app.pool.clone())
        .create(name, scopes, None, "test")
        .await
        .unwrap()
        .1
}

async fn push(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/ingest{query}", app.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn count(app: &TestApp, source: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM samples_in('-infinity', 'infinity') JOIN series ON series.id = series_id WHERE source = $1",
    )
    .bind(source)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn json_and_text_batches_are_stored_and_bad_ones_change_nothing() {
    let app = spawn_app().await;
    let t = token(&app, "edge-gateway", &[Scope::Ingest]).await;

    let batch = json!([
        {"metric": "mcp_tool_calls_total", "labels": {"tool": "search"}, "value": 12},
        {"metric": "mcp_tool_calls_total", "labels": {"tool": "fetch"}, "value": 3, "timestamp": chrono::Utc::now().timestamp()},
        {"metric": "queue_depth", "value": 4.5}
    ]);
    let (status, body) = push(&app, &t, "", "application/json", batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["source"].as_str(), body["accepted"].as_u64()),
        (Some("edge-gateway"), Some(3)),
        "source defaults to the token name"
    );

    let (status, body) = push(
        &app,
        &t,
        "?source=batch-job",
        "text/plain; version=0.0.4",
        "jobs_done 7\njob_latency_seconds{quantile=\"0.5\"} NaN\n",
    )
    .await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    assert_eq!(count(&app, "batch-job").await, 2);

    // One bad item rejects the whole batch, naming it; nothing is stored.
    let before = count(&app, "edge-gateway").await;
    let bad = json!([{"metric": "ok_metric", "value": 1}, {"metric": "bad-name", "value": 2}]);
    let (status, body) = push(&app, &t, "", "application/json", bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().starts_with("item 1:"),
        "{body}"
    );
    let (status, body) = push(&app, &t, "", "text/plain", "fine 1\nbroken{a=\"b\" 2\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().starts_with("line 2:"),
        "{body}"
    );
    let (status, _) = push(
        &app,
        &t,
        "",
        "application/json",
        "[{\"metric\":\"x\",\"value\":NaN}]",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "JSON NaN is not JSON"
    );
    let (status, _) = push(&app, &t, "", "application/xml", "<x/>").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = push(&app, &t, "?source=self", "text/plain", "x 1\n").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot push into a collected source"
    );
    let (status, _) = push(&app, &t, "", "text/plain", vec![b'#'; 17 * 1024 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        count(&app, "edge-gateway").await,
        before,
        "rejected batches stored nothing"
    );

    // The pushed source shows up with its health.
    app.add_user("v", Role::Viewer).await;
    let client = app.signed_in("v").await;
    let sources: Value = app.get(&client, "/api/sources").await.json().await.unwrap();
    let pushed = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "edge-gateway")
        .unwrap()
        .clone();
    assert_eq!(
        (pushed["kind"].as_str(), pushed["up"].as_bool()),
        (Some("push"), Some(true)),
        "{pushed}"
    );
    app.stop().await;
}

/// A body is decoded while it arrives, in whatever chunks it comes: a large JSON batch sent in small pieces (plain
/// and gzip) is stored whole, and a client that breaks off in the middle stores nothing.
#[tokio::test]
async fn bodies_are_decoded_as_they_arrive_and_a_broken_one_stores_nothing() {
    use std::io::Write;
    let app = spawn_app().await;
    let t = token(&app, "streamer", &[Scope::Ingest]).await;
    let now = chrono::Utc::now().timestamp_millis();
    let items: Vec<Value> = (0..20_000)
        .map(|i| json!({"metric": "stream_gauge", "labels": {"n": (i % 100).to_string()}, "value": i, "timestamp": now - 20_000 + i}))
        .collect();
    let body = serde_json::to_vec(&items).unwrap();
    assert!(
        body.len() > 1_000_000,
        "several channel chunks: {}",
        body.len()
    );
    let in_pieces = |bytes: Vec<u8>, fail_after: Option<usize>| {
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes
            .chunks(7_919)
            .enumerate()
            .map(|(i, c)| match fail_after {
                Some(n) if i >= n => Err(std::io::Error::other("the client gave up")),
                _ => Ok(c.to_vec()),
            })
            .collect();
        reqwest::Body::wrap_stream(futures::stream::iter(pieces))
    };
    let send = |query: &'static str, encoding: Option<&'static str>, body: reqwest::Body| {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/v1/ingest{query}", app.base))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        req.send()
    };

    let res = send("?source=plain", None, in_pieces(body.clone(), None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["accepted"], 20_000);
    assert_eq!(count(&app, "plain").await, 20_000);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body).unwrap();
    let res = send(
        "?source=inflated",
        Some("gzip"),
        in_pieces(gz.finish().unwrap(), None),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(count(&app, "inflated").await, 20_000);

    // Broken off after ~80 KB of a 1 MB batch: the request fails and not one of its samples is kept.
    let broken = send("?source=broken", None, in_pieces(body.clone(), Some(10))).await;
    if let Ok(res) = broken {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // A truncated body that is still valid up to its end is refused as truncated JSON.
    let cut = body[..body.len() / 2].to_vec();
    let res = send("?source=broken", None, in_pieces(cut, None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, "broken").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused_and_use_is_recorded() {
    let app = spawn_app().await;
    let tokens = Tokens::new(app.pool.clone());
    let (info, t) = tokens
        .create("short-lived", &[Scope::Ingest], None, "test")
        .await
        .unwrap();
    let (status, _) = push(&app, &t, "", "text/plain", "x 1\n").await;
    assert_eq!(status, StatusCode::OK);
    let listed = tokens.list().await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "last use is recorded");
    assert!(
        !format!("{listed:?}").contains(&t[10..]),
        "the secret is never listed"
    );

    tokens.revoke(info.id).await.unwrap();
    let (status, _) = push(&app, &t, "", "text/plain", "x 1\n").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, expiring) = tokens
        .create(
            "expiring",
            &[Scope::Ingest],
            Some(chrono::Utc::now() + chrono::Duration::seconds(1)),
            "test",
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the token to expire", || async {
        (push(&app, &expiring, "", "text/plain", "x 1\n").await.0 == StatusCode::UNAUTHORIZED)
            .then_some(())
    })
    .await;
    let (status, _) = push(&app, "mcpulse_0000", "", "text/plain", "x 1\n").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_cardinality_bomb_is_cut_off_while_existing_series_keep_flowing() {
    let app = spawn_app().await;
    let t = token(&app, "bomber", &[Scope::Ingest]).await;
    let limit = mcpulse::store::DEFAULT_MAX_SERIES_PER_SOURCE;
    let (status, _) = push(&app, &t, "", "text/plain", "steady 1\n").await;
    assert_eq!(status, StatusCode::OK);
    let bomb: String = (0..limit + 500)
        .map(|i| format!("exploding{{id=\"{i}\"}} 1\n"))
        .collect();
    let (status, body) = push(&app, &t, "", "text/plain", bomb).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["accepted"].as_u64(),
        Some(limit as u64 - 1),
        "one series was already used by `steady`"
    );
    assert_eq!(body["rejected"].as_u64(), Some(501));
    let (_, body) = push(
        &app,
        &t,
        "",
        "text/plain",
        "steady 2\nexploding{id=\"brand-new\"} 1\n",
    )
    .await;
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(1), Some(1)),
        "existing series flow, new ones do not"
    );
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mcpulse_samples_rejected_total 502"),
        "counted in /metrics: {text}"
    );
    app.stop().await;
}
