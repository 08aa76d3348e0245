//! The `self` source is collected and stored, served by `/api/metrics`, and streamed over `/ws`.

use crate::helpers::{eventually, spawn_app};
use app::types::Role;
use futures::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn self_metrics_are_collected_stored_and_served() {
    let app = spawn_app().await;
    app.add_user("viewer", Role::Viewer).await;
    let client = app.signed_in("viewer").await;
    let metrics = eventually(
        Duration::from_secs(10),
        "self metrics with requests",
        || async {
            let body: serde_json::Value =
                app.get(&client, "/api/metrics").await.json().await.ok()?;
            let source = body["sources"]
                .as_array()?
                .iter()
                .find(|s| s["source_id"] == "self")?
                .clone();
            (source["metrics"]["requests_total"].as_f64()? >= 1.0)
                .then_some(source["metrics"].clone())
        },
    )
    .await;
    assert!(
        metrics["process_resident_memory_bytes"].as_f64().unwrap() > 1e6,
        "{metrics}"
    );
    assert!(
        metrics["active_connections"].as_f64().unwrap() >= 1.0,
        "this client's connection is open: {metrics}"
    );
    assert_eq!(metrics["up"].as_f64(), Some(1.0));

    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM samples JOIN series ON series.id = series_id WHERE source = 'self'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(stored >= 5, "samples are in PostgreSQL ({stored})");
    app.stop().await;
}

#[tokio::test]
async fn the_websocket_streams_collection_rounds_to_signed_in_users_only() {
    let app = spawn_app().await;
    app.add_user("viewer", Role::Viewer).await;
    let url = format!("ws://{}/ws", app.addr);

    let refused = tokio_tungstenite::connect_async(url.clone()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("anonymous websocket must be refused with 401, got {other:?}"),
    }

    let login = app
        .call(
            &app.client(),
            "login",
            &[
                ("username", "viewer"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("signed-in websocket opens");
    let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a collection round arrives within 10 s")
        .expect("stream open")
        .expect("valid frame");
    let text = message.into_text().unwrap();
    let parsed: app::types::LiveMessage = serde_json::from_str(&text).expect("a LiveMessage");
    let app::types::LiveMessage::Samples(samples) = parsed;
    assert_eq!(samples.source, "self");
    assert!(
        samples.values.iter().any(|(m, _)| m == "requests_total"),
        "{samples:?}"
    );
    app.stop().await;
}
