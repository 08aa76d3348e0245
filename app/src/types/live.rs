//! What the websocket carries: sample rounds and the current alerts.

use super::*;

/// One collection round of one source, as pushed to live clients over `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSamples {
    pub source: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub t: i64,
    pub values: Vec<(String, f64)>,
}

/// The close code of a `/ws` connection whose session ended (signed out everywhere, password reset, user demoted
/// below viewer): the browser goes to the sign-in page instead of reconnecting.
pub const LIVE_CLOSE_SIGNED_OUT: u16 = 4401;

/// A message on the `/ws` websocket, server to browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    Samples(LiveSamples),
    /// Sent whenever an alert changes state or is acknowledged: every pending and firing alert, firing first.
    Alerts {
        alerts: Vec<AlertInfo>,
    },
}

impl LiveMessage {
    /// Reads a message as the browser receives it: the `type` first, then the body as that kind. (Serde's derived
    /// reading of an internally tagged enum buffers the whole message in a generic tree and carries a third copy of
    /// every nested type's decoder into the WASM.)
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Tag<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        #[derive(Deserialize)]
        struct Alerts {
            alerts: Vec<AlertInfo>,
        }
        match serde_json::from_str::<Tag>(text)?.kind.as_ref() {
            "samples" => serde_json::from_str(text).map(LiveMessage::Samples),
            "alerts" => serde_json::from_str::<Alerts>(text)
                .map(|a| LiveMessage::Alerts { alerts: a.alerts }),
            other => Err(serde::de::Error::unknown_variant(
                other,
                &["samples", "alerts"],
            )),
        }
    }
}
