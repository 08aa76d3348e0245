//! Push ingest: `POST /api/v1/ingest`, authorised by an API token with the `ingest` scope. The body is JSON
//! (`[{"metric", "labels", "value", "timestamp"?}]`) or Prometheus text / OpenMetrics, optionally gzip-encoded.
//! A batch is checked whole before anything is stored: the first bad item or line is named in a 4xx answer and
//! nothing is kept. An accepted batch is acknowledged only after it is committed.
//!
//! The body is decoded as it arrives ([`decode_stream`]): its chunks pass through a small channel to a blocking
//! decoder, gzip is inflated on the way, and a JSON batch is read item by item straight into samples, so a request
//! never holds its body whole (text expositions hold the inflated text once, as the parser needs it). Bodies are
//! bounded by [`MAX_BODY_BYTES`] before and after inflating.

use super::prometheus::parse::{self, Format};
use crate::store::{Labels, Sample, SourceId};
use app::error::AppError;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::Read;
use std::time::Duration;

/// Largest body accepted, before and after decompression.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Pushes decoded at once; more wait for a turn (see [`decode_stream`]).
pub const DECODERS_AT_ONCE: usize = 32;
/// How far ahead of our clock a pushed timestamp may be.
pub const MAX_FUTURE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonItem {
    metric: String,
    #[serde(default)]
    labels: Labels,
    value: f64,
    timestamp: Option<serde_json::Value>,
}

/// The body as it arrives: any reader (a slice in tests, the request's chunks in [`decode_stream`]).
pub struct Payload<'a, R> {
    pub content_type: &'a str,
    pub content_encoding: Option<&'a str>,
    pub body: R,
}

/// Decodes a request's body while it is still arriving: the chunks are handed to [`decode`] on a blocking thread
/// through a channel of a few chunks, so reading, inflating and parsing overlap and no copy of the whole body is
/// made. When the decoder stops early (a bad item, the size limit) the rest of the body is not read. A client
/// that breaks off mid-body gets an error, never a shortened batch.
pub async fn decode_stream(
    body: axum::body::Body,
    content_type: String,
    content_encoding: Option<String>,
    source: SourceId,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<Vec<Sample>, AppError> {
    use http_body_util::BodyExt as _;
    // A decoder holds a blocking thread while its body arrives: at most `DECODERS` at once, so slow uploads queue
    // here instead of taking the blocking pool from everything else (password hashing, report rendering).
    static DECODERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(DECODERS_AT_ONCE);
    let _permit = DECODERS.acquire().await.map_err(AppError::internal)?;
    let (chunks, arriving) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, String>>(4);
    let decoding = tokio::task::spawn_blocking(move || {
        let reader = Chunks {
            arriving,
            current: bytes::Bytes::new(),
            ended: false,
        };
        let payload = Payload {
            content_type: &content_type,
            content_encoding: content_encoding.as_deref(),
            body: reader,
        };
        decode(payload, &source, now, max_age)
    });
    let pump = async move {
        let mut body = body;
        loop {
            // A decoder that has its answer (a bad item, the size limit) stops the reading at once.
            let frame = tokio::select! {
                frame = body.frame() => frame,
                () = chunks.closed() => break,
            };
            let next = match frame {
                None => Some(Ok(None)),
                Some(Ok(frame)) => frame.into_data().ok().map(|data| Ok(Some(data))),
                Some(Err(e)) => Some(Err(e.to_string())),
            };
            let item = match next {
                None => continue,                          // trailers
                Some(Ok(None)) => Ok(bytes::Bytes::new()), // the end, marked by an empty chunk
                Some(Ok(Some(data))) if data.is_empty() => continue,
                Some(Ok(Some(data))) => Ok(data),
                Some(Err(e)) => Err(e),
            };
            let last = item.as_ref().map_or(true, |data| data.is_empty());
            // A closed channel means the decoder has its answer already.
            if chunks.send(item).await.is_err() || last {
                break;
            }
        }
    };
    let ((), decoded) = tokio::join!(pump, decoding);
    decoded.map_err(AppError::internal)?
}

/// The body's chunks as a blocking reader. An empty chunk marks the end; a channel closed without it means the
/// request was abandoned, which reads as an error, never as a shorter body.
struct Chunks {
    arriving: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
    ended: bool,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.arriving.blocking_recv() {
                Some(Ok(data)) if data.is_empty() => self.ended = true,
                Some(Ok(data)) => self.current = data,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!(
                        "the body could not be read: {e}"
                    )))
                }
                None => {
                    return Err(std::io::Error::other(
                        "the body ended before it was complete",
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

/// A reader that fails once more than [`MAX_BODY_BYTES`] pass through it, and says so in `over`.
struct Bounded<'a, R> {
    inner: R,
    left: usize,
    over: &'a Cell<bool>,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Read one byte past the limit to tell "exactly at the limit" from "over it".
        let want = buf.len().min(self.left + 1);
        let n = self.inner.read(&mut buf[..want])?;
        if n > self.left {
            self.over.set(true);
            return Err(std::io::Error::other(too_large_message()));
        }
        self.left -= n;
        Ok(n)
    }
}

fn too_large_message() -> String {
    format!(
        "the body is larger than {} MiB",
        MAX_BODY_BYTES / (1024 * 1024)
    )
}

/// Decodes and checks a batch into samples of `source`, reading the body as it comes. `now` stamps samples
/// without a timestamp and bounds the accepted window together with `max_age`.
pub fn decode<R: Read>(
    payload: Payload<'_, R>,
    source: &SourceId,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<Vec<Sample>, AppError> {
    let over = Cell::new(false);
    let raw = Bounded {
        inner: payload.body,
        left: MAX_BODY_BYTES,
        over: &over,
    };
    let gzip = match payload
        .content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(other) => {
            return Err(AppError::UnsupportedMediaType(format!(
                "content encoding `{other}` is not accepted (use gzip)"
            )))
        }
    };
    let inflated: Box<dyn Read + '_> = if gzip {
        let inflating =
            flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(64 * 1024, raw));
        Box::new(Bounded {
            inner: inflating,
            left: MAX_BODY_BYTES,
            over: &over,
        })
    } else {
        Box::new(raw)
    };
    let mut body = std::io::BufReader::with_capacity(64 * 1024, inflated);
    // What a failed read was: the size limit, bad gzip, or the transport.
    let read_error = |e: &std::io::Error| -> AppError {
        if over.get() {
            AppError::TooLarge(too_large_message())
        } else if gzip && e.kind() != std::io::ErrorKind::Other {
            AppError::invalid("body", format!("not valid gzip: {e}"))
        } else {
            AppError::invalid("body", e.to_string())
        }
    };
    let media = payload
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let oldest = now - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::days(36500));
    let newest = now + chrono::Duration::from_std(MAX_FUTURE).unwrap_or_default();
    let check_time = |ts: DateTime<Utc>| -> Result<DateTime<Utc>, String> {
        if ts < oldest {
            Err(format!("timestamp {ts} is older than the retention period"))
        } else if ts > newest {
            Err(format!(
                "timestamp {ts} is more than 10 minutes in the future"
            ))
        } else {
            Ok(ts)
        }
    };
    match media.as_str() {
        "application/json" => decode_json(&mut body, &read_error, |i, item| {
            let at = || format!("item {i}");
            let ts = match &item.timestamp {
                None => now,
                Some(v) => parse_json_time(v).map_err(|e| AppError::invalid(at(), e))?,
            };
            let ts = check_time(ts).map_err(|e| AppError::invalid(at(), e))?;
            if !item.value.is_finite() {
                return Err(AppError::invalid(at(), "value must be a finite number"));
            }
            Sample::parse(&item.metric, source, item.labels, ts, item.value).map_err(|e| AppError::invalid(at(), e.to_string()))
        }),
        "text/plain" | "application/openmetrics-text" | "" => {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).map_err(|e| read_error(&e))?;
            drop(body);
            let text = std::str::from_utf8(&bytes).map_err(|_| AppError::invalid("body", "not UTF-8 text"))?;
            // Each distinct series is parsed and checked once (its first line); the samples of a series share
            // its names (clones of one stored string), so a batch of many points per series allocates per series.
            let mut samples = Vec::new();
            parse::parse_interned(
                text,
                Format::from_content_type(&media),
                |first| {
                    let metric = crate::store::MetricName::parse(&first.name).map_err(|e| e.to_string())?;
                    let labels = crate::store::LabelSet::parse(first.labels).map_err(|e| e.to_string())?;
                    Ok((metric, labels))
                },
                |_, (metric, labels), value, timestamp_ms| {
                    let ts = match timestamp_ms {
                        None => now,
                        Some(ms) => Utc.timestamp_millis_opt(ms).single().ok_or("timestamp out of range")?,
                    };
                    // The exposition format allows NaN and ±Inf values.
                    let ts = check_time(ts)?;
                    samples.push(Sample { metric: metric.clone(), source: source.clone(), labels: labels.clone(), ts, value });
                    Ok(())
                },
            )
            .map_err(|e| AppError::invalid(format!("line {}", e.line), e.message))?;
            if samples.is_empty() {
                return Err(AppError::invalid("body", "no samples in the exposition"));
            }
            Ok(samples)
        }
        other => Err(AppError::UnsupportedMediaType(format!(
            "content type `{other}` is not accepted: send application/json, text/plain (Prometheus) or application/openmetrics-text"
        ))),
    }
}

/// Reads a JSON array of samples item by item, straight into samples (no document tree: a batch costs about what
/// its samples do). A syntax error is the body's; an item of the wrong shape, or one `each` refuses, is named.
fn decode_json(
    body: impl Read,
    read_error: impl Fn(&std::io::Error) -> AppError,
    each: impl FnMut(usize, JsonItem) -> Result<Sample, AppError>,
) -> Result<Vec<Sample>, AppError> {
    use serde::de::{Deserializer as _, Error as _, SeqAccess, Visitor};

    struct Items<'a, F> {
        /// The item being read, while one is.
        current: &'a Cell<Option<usize>>,
        refused: &'a RefCell<Option<AppError>>,
        each: F,
    }
    impl<'de, F: FnMut(usize, JsonItem) -> Result<Sample, AppError>> Visitor<'de> for Items<'_, F> {
        type Value = Vec<Sample>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of samples")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<Sample>, A::Error> {
            let mut out = Vec::new();
            loop {
                self.current.set(Some(out.len()));
                let Some(item) = seq.next_element::<JsonItem>()? else {
                    break;
                };
                match (self.each)(out.len(), item) {
                    Ok(sample) => out.push(sample),
                    Err(e) => {
                        *self.refused.borrow_mut() = Some(e);
                        return Err(A::Error::custom("refused"));
                    }
                }
            }
            self.current.set(None);
            Ok(out)
        }
    }

    let current = Cell::new(None);
    let refused = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_reader(body);
    let read = de
        .deserialize_seq(Items {
            current: &current,
            refused: &refused,
            each,
        })
        .and_then(|samples| de.end().map(|()| samples));
    match read {
        Ok(samples) if samples.is_empty() => Err(AppError::invalid("body", "the batch is empty")),
        Ok(samples) => Ok(samples),
        Err(e) => Err(match (refused.into_inner(), current.get()) {
            (Some(refused), _) => refused,
            (None, _) if e.is_io() => read_error(&std::io::Error::new(
                e.io_error_kind().unwrap_or(std::io::ErrorKind::Other),
                e.to_string(),
            )),
            (None, Some(i)) if e.classify() == serde_json::error::Category::Data => {
                AppError::invalid(format!("item {i}"), e.to_string())
            }
            _ => AppError::invalid("body", format!("not a JSON array of samples: {e}")),
        }),
    }
}

/// RFC 3339 text, or a number of Unix seconds (milliseconds when larger than 1e11).
fn parse_json_time(v: &serde_json::Value) -> Result<DateTime<Utc>, String> {
    match v {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| format!("timestamp `{s}` is not RFC 3339")),
        serde_json::Value::Number(n) => {
            let n = n.as_f64().ok_or("timestamp is not a number")?;
            let ms = if n.abs() > 1e11 { n } else { n * 1000.0 };
            Utc.timestamp_millis_opt(ms as i64)
                .single()
                .ok_or_else(|| format!("timestamp {n} is out of range"))
        }
        _ => Err("timestamp must be RFC 3339 text or Unix seconds".into()),
    }
}

/// The body as sent (borrowed), or inflated (bounded by [`MAX_BODY_BYTES`]).
pub(crate) fn decompress<'a>(
    body: &'a [u8],
    encoding: Option<&str>,
) -> Result<Cow<'a, [u8]>, AppError> {
    let too_large = || {
        AppError::TooLarge(format!(
            "the body is larger than {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        ))
    };
    match encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(Cow::Borrowed(body)),
        Some(e) if e.is_empty() || e == "identity" => Ok(Cow::Borrowed(body)),
        Some(e) if e == "gzip" => {
            let mut out = Vec::new();
            // Read one byte past the limit to tell "exactly at the limit" from "over it".
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| AppError::invalid("body", format!("not valid gzip: {e}")))?;
            if out.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            Ok(Cow::Owned(out))
        }
        Some(other) => Err(AppError::UnsupportedMediaType(format!(
            "content encoding `{other}` is not accepted (use gzip)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Result<Vec<Sample>, AppError> {
        decode(
            Payload {
                content_type: "application/json",
                content_encoding: None,
                body: body.as_bytes(),
            },
            &SourceId::literal("pusher"),
            Utc::now(),
            Duration::from_secs(7 * 86400),
        )
    }

    #[test]
    fn json_batches_decode_with_optional_timestamps() {
        let samples = json(
            r#"[{"metric":"calls_total","labels":{"tool":"search"},"value":3},{"metric":"up","value":1,"timestamp":"2099-01-01T00:00:00Z"}]"#,
        );
        assert!(
            matches!(samples, Err(AppError::Invalid { ref field, .. }) if field == "item 1"),
            "{samples:?}"
        );
        let now = Utc::now().timestamp();
        let samples = json(&format!(r#"[{{"metric":"calls_total","labels":{{"tool":"search"}},"value":3}},{{"metric":"up","value":1,"timestamp":{now}}}]"#)).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].labels["tool"], "search");
        assert_eq!(samples[1].ts.timestamp(), now);
    }

    #[test]
    fn the_first_bad_item_is_named_and_nothing_passes() {
        let cases = [
            (
                r#"[{"metric":"ok","value":1},{"metric":"1bad","value":1}]"#,
                "item 1",
            ),
            (r#"[{"metric":"ok","value":NaN}]"#, "body"),
            (r#"[{"metric":"ok","value":"1"}]"#, "item 0"),
            (r#"[{"metric":"ok","value":1,"extra":true}]"#, "item 0"),
            (
                r#"[{"metric":"ok","value":1,"labels":{"__x":"y"}}]"#,
                "item 0",
            ),
            (r#"[{"metric":"ok","value":1,"timestamp":0}]"#, "item 0"),
            (r#"{"metric":"ok","value":1}"#, "body"),
            ("[]", "body"),
        ];
        for (body, field) in cases {
            match json(body) {
                Err(AppError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: expected an error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn text_bodies_accept_nan_and_inf_but_name_bad_lines() {
        let decode_text = |body: &str| {
            decode(
                Payload {
                    content_type: "text/plain; version=0.0.4",
                    content_encoding: None,
                    body: body.as_bytes(),
                },
                &SourceId::literal("pusher"),
                Utc::now(),
                Duration::from_secs(86400),
            )
        };
        let samples = decode_text("a NaN\nb +Inf\nc{x=\"y\"} 2\n").unwrap();
        assert_eq!(samples.len(), 3);
        assert!(samples[0].value.is_nan());
        match decode_text("a 1\nb{x=\"y\" 2\n") {
            Err(AppError::Invalid { field, .. }) => assert_eq!(field, "line 2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gzip_is_limited_after_decompression() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; MAX_BODY_BYTES + 10]).unwrap();
        let bomb = enc.finish().unwrap();
        assert!(
            bomb.len() < 100_000,
            "a small body that inflates past the limit"
        );
        let r = decode(
            Payload {
                content_type: "text/plain",
                content_encoding: Some("gzip"),
                body: &bomb[..],
            },
            &SourceId::literal("p"),
            Utc::now(),
            Duration::from_secs(60),
        );
        assert!(matches!(r, Err(AppError::TooLarge(_))), "{r:?}");
        let r = decode(
            Payload {
                content_type: "application/xml",
                content_encoding: None,
                body: &b"<x/>"[..],
            },
            &SourceId::literal("p"),
            Utc::now(),
            Duration::from_secs(60),
        );
        assert!(matches!(r, Err(AppError::UnsupportedMediaType(_))));
    }
}
