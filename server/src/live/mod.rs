//! Live updates: collection rounds and alert changes are published to a [`Hub`] (a broadcast channel of pre-serialised JSON, so a
//! message is encoded once however many clients listen) and streamed to browsers over the `/ws` websocket.
//! Each client's queue is bounded: a client that falls behind is disconnected and reconnects with backoff.

use app::types::LiveMessage;
use axum::extract::ws::{Message, WebSocket};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Messages a client may lag behind before it is dropped.
const CLIENT_QUEUE: usize = 256;
/// A send that takes longer than this marks the client as too slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Hub {
    tx: broadcast::Sender<Arc<str>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(CLIENT_QUEUE).0,
        }
    }
}

impl Hub {
    pub fn publish(&self, message: &LiveMessage) {
        match serde_json::to_string(message) {
            // No subscribers is not an error.
            Ok(text) => {
                let _ = self.tx.send(text.into());
            }
            Err(e) => tracing::error!(error = %e, "live message not serialisable"),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }
}

/// Publishes every pending and firing alert, after an evaluation changed some or a user acknowledged one.
pub async fn publish_alerts(alerting: &crate::alert::Alerting, hub: &Hub) {
    match alerting.alerts().await {
        Ok(all) => hub.publish(&LiveMessage::Alerts {
            alerts: all.into_iter().filter(|a| a.is_active()).collect(),
        }),
        Err(e) => tracing::warn!(error = %e, "listing alerts for live clients failed"),
    }
}

/// Streams hub messages to one websocket until the client leaves, lags, or the server shuts down.
pub async fn serve_client(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<str>>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            message = rx.recv() => match message {
                Ok(text) => {
                    let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.as_ref().into()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        tracing::debug!("live client too slow or gone; dropping it");
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "live client lagged; dropping it so it reconnects");
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
