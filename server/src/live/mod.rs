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
    /// Users whose sessions just ended (signed out everywhere, password reset): their open sockets close at once.
    revoked: broadcast::Sender<i64>,
    /// Serialises "read the alerts, publish them", so lists reach clients in the order they were read.
    alerts_order: tokio::sync::Mutex<()>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(CLIENT_QUEUE).0,
            revoked: broadcast::channel(64).0,
            alerts_order: tokio::sync::Mutex::new(()),
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

    /// Held while reading alerts and publishing them (see `Alerting::publish`), so lists reach clients in the order
    /// they were read.
    pub async fn alerts_in_order(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.alerts_order.lock().await
    }

    /// Closes every open socket of `user` in this process (other replicas notice at their next recheck).
    pub fn sessions_revoked(&self, user: i64) {
        let _ = self.revoked.send(user);
    }
}

/// How often an open socket checks that its session is still valid (revocations in another replica, a deleted user).
const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// Whose socket this is, and how to ask whether that session is still valid.
pub struct ClientSession {
    pub user: i64,
    pub still_valid: Box<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send>,
}

/// Streams hub messages to one websocket until the client leaves, lags, its session ends, or the server shuts down.
pub async fn serve_client(
    mut socket: WebSocket,
    hub: &Hub,
    session: ClientSession,
    shutdown: CancellationToken,
) {
    let mut rx = hub.subscribe();
    let mut revoked = hub.revoked.subscribe();
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    recheck.tick().await;
    let signed_out = || {
        Message::Close(Some(axum::extract::ws::CloseFrame {
            code: app::types::LIVE_CLOSE_SIGNED_OUT,
            reason: "signed out".into(),
        }))
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            user = revoked.recv() => match user {
                Ok(user) if user == session.user => {
                    tracing::debug!(user, "sessions revoked; closing the live socket");
                    let _ = socket.send(signed_out()).await;
                    break;
                }
                Ok(_) => {}
                // Missed revocations: find out the slow way.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if !(session.still_valid)().await {
                        let _ = socket.send(signed_out()).await;
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = recheck.tick() => {
                if !(session.still_valid)().await {
                    let _ = socket.send(signed_out()).await;
                    break;
                }
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
