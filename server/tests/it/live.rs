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
        "SELECT count(*) FROM samples_in('-infinity', 'infinity') JOIN series ON series.id = series_id WHERE source = 'self'",
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

    let mut socket = live_socket(&app, "viewer").await;
    // Rounds of `self` and `self-mcp` arrive every second; wait for one of `self`.
    let samples = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = socket
                .next()
                .await
                .expect("stream open")
                .expect("valid frame");
            let text = message.into_text().unwrap();
            let parsed: app::types::LiveMessage =
                serde_json::from_str(&text).expect("a LiveMessage");
            let app::types::LiveMessage::Samples(samples) = parsed else {
                panic!("the first messages are collection rounds: {text}");
            };
            if samples.source == "self" {
                return samples;
            }
        }
    })
    .await
    .expect("a collection round of self arrives within 10 s");
    assert_eq!(samples.source, "self");
    assert!(
        samples.values.iter().any(|(m, _)| m == "requests_total"),
        "{samples:?}"
    );
    app.stop().await;
}

/// A websocket on `/ws` signed in as `user` (who must exist).
async fn live_socket(
    app: &crate::helpers::TestApp,
    user: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let login = app
        .call(
            &app.client(),
            "login",
            &[("username", user), ("password", crate::helpers::PASSWORD)],
        )
        .await;
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("signed-in websocket opens")
        .0
}

/// Reads live messages until an alerts message satisfies `want`.
async fn next_alerts<S>(
    socket: &mut S,
    what: &str,
    want: impl Fn(&[app::types::AlertInfo]) -> bool,
) -> Vec<app::types::AlertInfo>
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("stream open")
            .expect("valid frame");
        let Ok(text) = message.into_text() else {
            continue;
        };
        if let Ok(app::types::LiveMessage::Alerts { alerts }) = serde_json::from_str(&text) {
            if want(&alerts) {
                return alerts;
            }
        }
    }
}

#[tokio::test]
async fn alert_changes_and_acknowledgements_are_pushed_to_live_clients() {
    let app = crate::helpers::spawn_app_with(&[("MCPULSE_ALERTS_INTERVAL", "1s")]).await;
    app.add_user("ed", Role::Editor).await;
    let client = app.signed_in("ed").await;
    let mut socket = live_socket(&app, "ed").await;
    // `self` reports requests_total every round; >= 0 holds at once.
    let res = client
        .post(format!("{}/api/rules", app.base))
        .json(&serde_json::json!({
            "name": "Always", "metric": "requests_total", "sources": ["self"],
            "condition": ">=", "threshold": "0", "severity": "warning"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    let firing = next_alerts(&mut socket, "the rule firing", |all| {
        all.iter()
            .any(|a| a.rule_name == "Always" && a.state == "firing")
    })
    .await;
    let alert = firing.iter().find(|a| a.rule_name == "Always").unwrap();
    assert!(alert.acknowledged_by.is_none());

    let res = client
        .post(format!("{}/api/alerts/ack", app.base))
        .json(&serde_json::json!({ "rule_id": alert.rule_id, "series_id": alert.series_id }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    next_alerts(&mut socket, "the acknowledgement", |all| {
        all.iter()
            .any(|a| a.rule_name == "Always" && a.acknowledged_by.as_deref() == Some("ed"))
    })
    .await;

    // History keeps the transition; a bad limit is a clear error.
    let history: serde_json::Value = app
        .get(
            &client,
            &format!("/api/alerts/history?rule_id={}", alert.rule_id),
        )
        .await
        .json()
        .await
        .unwrap();
    let events = history["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["state"] == "firing" && e["rule_name"] == "Always"),
        "{history}"
    );
    let bad = app.get(&client, "/api/alerts/history?limit=lots").await;
    assert_eq!(bad.status(), 422);

    // Deleting the rule clears its alerts for live clients too.
    let res = client
        .delete(format!("{}/api/rules/{}", app.base, alert.rule_id))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    next_alerts(&mut socket, "the alerts gone", |all| {
        all.iter().all(|a| a.rule_name != "Always")
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn signing_a_user_out_everywhere_closes_its_open_live_socket() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Admin).await;
    app.add_user("watcher", Role::Viewer).await;
    app.add_user("bystander", Role::Viewer).await;
    let mut watcher = live_socket(&app, "watcher").await;
    let mut bystander = live_socket(&app, "bystander").await;
    let admin = app.signed_in("admin").await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'watcher'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let res = app
        .call(&admin, "user_revoke_sessions", &[("id", &id.to_string())])
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    // The watcher's socket is closed with the signed-out code (the page goes to sign-in) …
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = watcher.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the socket closes within 5 s");
    assert_eq!(code, Some(app::types::LIVE_CLOSE_SIGNED_OUT));
    // … and nobody else's.
    let still_open = tokio::time::timeout(Duration::from_secs(3), bystander.next()).await;
    assert!(
        matches!(
            still_open,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))))
        ),
        "the bystander keeps receiving: {still_open:?}"
    );
    app.stop().await;
}
