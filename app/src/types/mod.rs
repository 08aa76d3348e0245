//! Types shared by the server and the browser: what crosses the wire between the engine, the server functions, the
//! websocket and the pages. Nothing here does I/O.
//!
//! One file per feature (`alerts`, `sources`, `query`, `live`, `reports`, `mcp`, `users`) and the UI's formatting
//! (`format`); every type is re-exported here, so paths stay `crate::types::X`.

mod alerts;
mod format;
mod live;
mod mcp;
mod query;
mod reports;
mod sources;
mod users;

pub use alerts::*;
pub use format::*;
pub use live::*;
pub use mcp::*;
pub use query::*;
pub use reports::*;
pub use sources::*;
pub use users::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn values_are_formatted_for_humans() {
        let cases = [
            (3.0, "", "3"),
            (2.5, "ms", "2.50 ms"),
            (3.0 * 1024.0 * 1024.0, "bytes", "3.0 MiB"),
            (f64::NAN, "", "NaN"),
            (1.0 / 30.0, "/s", "0.0333/s"),
            (2048.0, "bytes/s", "2.0 KiB/s"),
            (0.999_999_9, "s", "1.00 s"),
        ];
        for (value, unit, want) in cases {
            assert_eq!(format_value(value, unit), want, "{value} {unit}");
        }
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;

    #[test]
    fn every_live_message_round_trips_through_json() {
        let messages = [
            LiveMessage::Samples(LiveSamples {
                source: "self".into(),
                t: 1,
                values: vec![("up".into(), 1.0)],
            }),
            LiveMessage::Alerts { alerts: Vec::new() },
        ];
        assert!(LiveMessage::from_json(r#"{"type": "other"}"#).is_err());
        for m in messages {
            let text = serde_json::to_string(&m).expect("serialisable");
            assert_eq!(
                serde_json::from_str::<LiveMessage>(&text).unwrap(),
                m,
                "{text}"
            );
            assert_eq!(
                LiveMessage::from_json(&text).unwrap(),
                m,
                "as the browser reads it: {text}"
            );
        }
    }
}
