//! How server functions' answers travel: JSON, decoded in the browser from text.
//!
//! Hydration decodes every resource from text (`serde_json::from_str`); leptos' own JSON codec decodes answers from
//! bytes (`from_slice`). Each reader is a separate instantiation of every answer type's decoder, so the WASM carried
//! two copies of each (a tenth of the first chunk). Answers decoded from text share hydration's copy.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// JSON read from text: the encoding of every server function's answer and of [`crate::error::AppError`].
pub struct JsonText;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// A server function's answer as [`JsonText`] (`#[server(output = crate::codec::Answer)]`).
pub type Answer = Post<JsonText>;
