//! The browser end of the `/ws` websocket: fresh samples and alert changes arrive as [`LiveMessage`]s and land in
//! signals that pages read. A dropped connection is retried with capped exponential backoff and jitter, and the page can show that it
//! is reconnecting. On the server (first render) the signals simply stay empty.

use crate::types::{AlertInfo, LiveSamples};
use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStatus {
    Connecting,
    Live,
    Reconnecting,
}

/// Signals fed by the websocket.
#[derive(Clone, Copy)]
pub struct Live {
    pub latest: ReadSignal<Option<LiveSamples>>,
    /// Every pending and firing alert, after each change (`None` until the first change).
    pub alerts: ReadSignal<Option<Vec<AlertInfo>>>,
    pub status: ReadSignal<LiveStatus>,
}

/// Connects to `/ws` for as long as the calling component lives.
pub fn use_live() -> Live {
    let (latest, set_latest) = signal(None::<LiveSamples>);
    let (alerts, set_alerts) = signal(None::<Vec<AlertInfo>>);
    let (status, set_status) = signal(LiveStatus::Connecting);
    #[cfg(feature = "hydrate")]
    client::start(set_latest, set_alerts, set_status);
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_latest, set_alerts, set_status);
    Live {
        latest,
        alerts,
        status,
    }
}

/// Delay before reconnect attempt `attempt` (0-based): 0.5 s doubling up to 10 s, before jitter.
pub fn backoff_ms(attempt: u32) -> u32 {
    500u32.saturating_mul(1 << attempt.min(5)).min(10_000)
}

#[cfg(feature = "hydrate")]
mod client {
    use super::*;
    use crate::types::LiveMessage;
    use send_wrapper::SendWrapper;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;
    use wasm_bindgen::prelude::*;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    struct Conn {
        alive: Cell<bool>,
        socket: RefCell<Option<WebSocket>>,
        set_latest: WriteSignal<Option<LiveSamples>>,
        set_alerts: WriteSignal<Option<Vec<AlertInfo>>>,
        set_status: WriteSignal<LiveStatus>,
    }

    pub(super) fn start(
        set_latest: WriteSignal<Option<LiveSamples>>,
        set_alerts: WriteSignal<Option<Vec<AlertInfo>>>,
        set_status: WriteSignal<LiveStatus>,
    ) {
        let conn = Rc::new(Conn {
            alive: Cell::new(true),
            socket: RefCell::new(None),
            set_latest,
            set_alerts,
            set_status,
        });
        connect(conn.clone(), 0);
        let conn = SendWrapper::new(conn);
        on_cleanup(move || {
            conn.alive.set(false);
            if let Some(socket) = conn.socket.borrow_mut().take() {
                let _ = socket.close();
            }
        });
    }

    fn connect(conn: Rc<Conn>, attempt: u32) {
        if !conn.alive.get() {
            return;
        }
        let Some(window) = web_sys::window() else {
            return;
        };
        let location = window.location();
        let scheme = if location.protocol().as_deref() == Ok("https:") {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().unwrap_or_default();
        let socket = match WebSocket::new(&format!("{scheme}://{host}/ws")) {
            Ok(s) => s,
            Err(_) => return retry(conn, attempt),
        };

        let opened = Rc::new(Cell::new(false));
        {
            let (conn, opened) = (conn.clone(), opened.clone());
            let on_open = Closure::<dyn FnMut()>::new(move || {
                opened.set(true);
                conn.set_status.set(LiveStatus::Live);
            });
            socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            on_open.forget();
        }
        {
            let conn = conn.clone();
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let Some(text) = e.data().as_string() else {
                    return;
                };
                match LiveMessage::from_json(&text) {
                    Ok(LiveMessage::Samples(samples)) => conn.set_latest.set(Some(samples)),
                    Ok(LiveMessage::Alerts { alerts }) => conn.set_alerts.set(Some(alerts)),
                    Err(err) => leptos::logging::warn!("unreadable live message: {err}"),
                }
            });
            socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
        }
        {
            let conn = conn.clone();
            let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
                if !conn.alive.get() {
                    return;
                }
                if e.code() == crate::types::LIVE_CLOSE_SIGNED_OUT {
                    conn.alive.set(false);
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().set_href("/login");
                    }
                    return;
                }
                conn.set_status.set(LiveStatus::Reconnecting);
                // A connection that opened resets the backoff; one that never opened keeps growing it.
                let next = if opened.get() { 0 } else { attempt + 1 };
                retry(conn.clone(), next);
            });
            socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            on_close.forget();
        }
        *conn.socket.borrow_mut() = Some(socket);
    }

    fn retry(conn: Rc<Conn>, attempt: u32) {
        let base = backoff_ms(attempt) as f64;
        let delay = base * (0.75 + 0.5 * js_sys::Math::random());
        set_timeout(
            move || connect(conn, attempt),
            Duration::from_millis(delay as u64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_caps() {
        let delays: Vec<u32> = (0..8).map(backoff_ms).collect();
        assert_eq!(
            delays,
            vec![500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
    }
}
