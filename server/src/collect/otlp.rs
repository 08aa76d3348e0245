//! OTLP/HTTP metrics ingest: `POST /v1/metrics`, authorised like push ingest by an API token with the `ingest`
//! scope, so services instrumented with OpenTelemetry SDKs push straight to mcpulse. The body is an
//! `ExportMetricsServiceRequest` (types from `opentelemetry-proto`) as protobuf (`application/x-protobuf`) or OTLP
//! JSON (`application/json`), optionally gzip-encoded. The request is decoded and checked whole into [`Sample`]s of
//! one or more sources; the first bad data point is named in a 400 answer and nothing is stored.
//!
//! Mapping onto the series model:
//! - **source**: `?source=` if given, else the resource's `service.name` (characters other than letters, digits,
//!   `.`, `_`, `-` become `-`), else the token's name;
//! - **metric name**: the OTel name with every character outside `[a-zA-Z0-9_:]` replaced by `_`
//!   (`mcp.client.operation.duration` → `mcp_client_operation_duration`);
//! - **labels**: the data point's attributes (names sanitised like metric names; values as text — arrays and maps
//!   as JSON), plus `instance` from the resource's `service.instance.id`;
//! - **gauge**: one sample per data point; **sum**: the same, named `…_total` when monotonic and cumulative (a
//!   delta sum keeps its name and stores each interval's increase);
//! - **histogram**: `…_count`, `…_sum`, `…_min`, `…_max` when present, and cumulative `…_bucket{le="…"}` per bound
//!   plus `le="+Inf"`; **exponential histogram**: `…_count`, `…_sum`, `…_min`, `…_max`; **summary**:
//!   `…{quantile="…"}`, `…_sum`, `…_count`;
//! - **time**: `timeUnixNano` (0 means now), within the same window as push ingest.

use super::push::{decompress, MAX_FUTURE};
use crate::store::{Labels, Sample, SourceId};
use app::error::AppError;
use chrono::{DateTime, TimeZone, Utc};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, NumberDataPoint};
use std::time::Duration;

/// OTLP's `AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: i32 = 2;

/// The wire format of a request (answers go back in the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub fn from_content_type(content_type: &str) -> Result<Encoding, AppError> {
        match content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "application/x-protobuf" | "application/protobuf" | "" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            other => Err(AppError::UnsupportedMediaType(format!(
                "content type `{other}` is not accepted: send application/x-protobuf or application/json (OTLP/HTTP)"
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// An empty `ExportMetricsServiceResponse` (full success).
    pub fn success_body(self) -> Vec<u8> {
        match self {
            // Every field of the message is absent: its encoding is empty.
            Encoding::Protobuf => Vec::new(),
            Encoding::Json => b"{}".to_vec(),
        }
    }
}

/// Decodes a request body into samples. `source` is the explicit `?source=`; `fallback` the token's name.
pub fn decode(
    body: &[u8],
    encoding: Encoding,
    content_encoding: Option<&str>,
    source: Option<&SourceId>,
    fallback: &str,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<Vec<Sample>, AppError> {
    let body = decompress(body, content_encoding)?;
    let request: ExportMetricsServiceRequest = match encoding {
        Encoding::Protobuf => prost::Message::decode(&*body).map_err(|e| {
            AppError::invalid(
                "body",
                format!("not an OTLP ExportMetricsServiceRequest: {e}"),
            )
        })?,
        Encoding::Json => {
            let mut value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| AppError::invalid("body", format!("not JSON: {e}")))?;
            normalise_json(&mut value);
            serde_json::from_value(value).map_err(|e| {
                AppError::invalid(
                    "body",
                    format!("not an OTLP ExportMetricsServiceRequest: {e}"),
                )
            })?
        }
    };
    let oldest = now - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::days(36500));
    let newest = now + chrono::Duration::from_std(MAX_FUTURE).unwrap_or_default();
    let mut out = Vec::new();
    for resource_metrics in &request.resource_metrics {
        let attributes = resource_metrics
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let attribute = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref())
                .map(text)
        };
        let source = match source {
            Some(s) => s.clone(),
            None => attribute("service.name")
                .and_then(|name| source_id(&name))
                .or_else(|| source_id(fallback))
                .ok_or_else(|| {
                    AppError::invalid(
                        "source",
                        format!("no service.name, and the token's name `{fallback}` makes no source id: add ?source="),
                    )
                })?,
        };
        let instance = attribute("service.instance.id");
        for scope in &resource_metrics.scope_metrics {
            for m in &scope.metrics {
                let name = metric_name(&m.name);
                let at = format!("metric `{}`", m.name);
                let mut push = |suffix: &str,
                                extra: Option<(&str, String)>,
                                attributes: &[KeyValue],
                                time: u64,
                                value: f64|
                 -> Result<(), AppError> {
                    let metric = format!("{name}{suffix}");
                    let mut labels: Labels = attributes
                        .iter()
                        .map(|kv| {
                            (
                                metric_name(&kv.key),
                                kv.value.as_ref().map(text).unwrap_or_default(),
                            )
                        })
                        .collect();
                    if let Some(i) = &instance {
                        labels.entry("instance".into()).or_insert_with(|| i.clone());
                    }
                    if let Some((k, v)) = extra {
                        labels.insert(k.to_string(), v);
                    }
                    let ts = if time == 0 {
                        now
                    } else {
                        Utc.timestamp_nanos(time.min(i64::MAX as u64) as i64)
                    };
                    if ts < oldest {
                        return Err(AppError::invalid(
                            &at,
                            format!("time {ts} is older than the retention period"),
                        ));
                    }
                    if ts > newest {
                        return Err(AppError::invalid(
                            &at,
                            format!("time {ts} is more than 10 minutes in the future"),
                        ));
                    }
                    out.push(
                        Sample::parse(&metric, &source, labels, ts, value)
                            .map_err(|e| AppError::invalid(&at, e.to_string()))?,
                    );
                    Ok(())
                };
                match &m.data {
                    None => return Err(AppError::invalid(&at, "the metric has no data")),
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            push("", None, &p.attributes, p.time_unix_nano, number(p, &at)?)?;
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        let total = s.is_monotonic
                            && s.aggregation_temporality == CUMULATIVE
                            && !name.ends_with("_total");
                        let suffix = if total { "_total" } else { "" };
                        for p in &s.data_points {
                            push(
                                suffix,
                                None,
                                &p.attributes,
                                p.time_unix_nano,
                                number(p, &at)?,
                            )?;
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let (attrs, t) = (&p.attributes, p.time_unix_nano);
                            push("_count", None, attrs, t, p.count as f64)?;
                            if let Some(sum) = p.sum {
                                push("_sum", None, attrs, t, sum)?;
                            }
                            if let Some(min) = p.min {
                                push("_min", None, attrs, t, min)?;
                            }
                            if let Some(max) = p.max {
                                push("_max", None, attrs, t, max)?;
                            }
                            if !p.bucket_counts.is_empty() {
                                if p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                                    return Err(AppError::invalid(
                                        &at,
                                        "bucketCounts must have one more entry than explicitBounds",
                                    ));
                                }
                                let mut cumulative = 0u64;
                                for (i, bound) in p.explicit_bounds.iter().enumerate() {
                                    cumulative += p.bucket_counts[i];
                                    push(
                                        "_bucket",
                                        Some(("le", le(*bound))),
                                        attrs,
                                        t,
                                        cumulative as f64,
                                    )?;
                                }
                                push(
                                    "_bucket",
                                    Some(("le", "+Inf".into())),
                                    attrs,
                                    t,
                                    p.count as f64,
                                )?;
                            }
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            let (attrs, t) = (&p.attributes, p.time_unix_nano);
                            push("_count", None, attrs, t, p.count as f64)?;
                            if let Some(sum) = p.sum {
                                push("_sum", None, attrs, t, sum)?;
                            }
                            if let Some(min) = p.min {
                                push("_min", None, attrs, t, min)?;
                            }
                            if let Some(max) = p.max {
                                push("_max", None, attrs, t, max)?;
                            }
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            let (attrs, t) = (&p.attributes, p.time_unix_nano);
                            push("_count", None, attrs, t, p.count as f64)?;
                            push("_sum", None, attrs, t, p.sum)?;
                            for q in &p.quantile_values {
                                push("", Some(("quantile", le(q.quantile))), attrs, t, q.value)?;
                            }
                        }
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(AppError::invalid(
            "body",
            "the request holds no data points",
        ));
    }
    Ok(out)
}

fn number(p: &NumberDataPoint, at: &str) -> Result<f64, AppError> {
    match p.value {
        Some(number_data_point::Value::AsDouble(v)) if v.is_finite() => Ok(v),
        Some(number_data_point::Value::AsDouble(_)) => {
            Err(AppError::invalid(at, "a data point's value is not finite"))
        }
        Some(number_data_point::Value::AsInt(v)) => Ok(v as f64),
        None => Err(AppError::invalid(at, "a data point has no value")),
    }
}

/// A bound or quantile as Prometheus writes it (`0.25`, `1`, `+Inf`).
fn le(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// An attribute value as label text.
fn text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(any_value::Value::ArrayValue(a)) => {
            serde_json::to_string(&a.values.iter().map(text).collect::<Vec<_>>())
                .unwrap_or_default()
        }
        Some(any_value::Value::KvlistValue(kv)) => serde_json::to_string(
            &kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map(text).unwrap_or_default(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .unwrap_or_default(),
        // An index into a string table (profiles only): no table here, the index is all there is.
        Some(any_value::Value::StringValueStrindex(i)) => i.to_string(),
        None => String::new(),
    }
}

/// `mcp.client.operation.duration` → `mcp_client_operation_duration` (Prometheus name grammar).
pub fn metric_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `billing api` → `billing-api` (source id grammar, at most 64 characters); `None` for an empty name.
fn source_id(name: &str) -> Option<SourceId> {
    let id: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(crate::names::MAX_SOURCE_ID)
        .collect();
    SourceId::parse(&id).ok()
}

/// OTLP JSON that `opentelemetry-proto`'s serde would misread: 64-bit integers as strings in `asInt`, and enum
/// names for `aggregationTemporality`. Rewritten to the numbers it expects.
fn normalise_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), &*value) {
                    ("asInt", serde_json::Value::String(s)) => {
                        if let Ok(n) = s.parse::<i64>() {
                            *value = serde_json::Value::from(n);
                        }
                    }
                    ("aggregationTemporality", serde_json::Value::String(s)) => {
                        let n = match s.as_str() {
                            "AGGREGATION_TEMPORALITY_DELTA" => 1,
                            "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
                            _ => 0,
                        };
                        *value = serde_json::Value::from(n);
                    }
                    _ => normalise_json(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalise_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prometheus_grammar() {
        assert_eq!(
            metric_name("mcp.client.operation.duration"),
            "mcp_client_operation_duration"
        );
        assert_eq!(metric_name("http.server-requests"), "http_server_requests");
        assert_eq!(metric_name("2xx"), "_2xx");
        assert_eq!(source_id("billing api/v2").unwrap(), "billing-api-v2");
        assert_eq!(le(0.25), "0.25");
        assert_eq!(le(5.0), "5");
        assert_eq!(le(f64::INFINITY), "+Inf");
    }

    #[test]
    fn json_with_string_integers_and_enum_names_decodes() {
        let body = serde_json::json!({
            "resourceMetrics": [{
                "resource": { "attributes": [
                    { "key": "service.name", "value": { "stringValue": "search api" } },
                    { "key": "service.instance.id", "value": { "stringValue": "pod-1" } }
                ] },
                "scopeMetrics": [{ "metrics": [
                    { "name": "requests", "sum": {
                        "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE", "isMonotonic": true,
                        "dataPoints": [{ "asInt": "7", "timeUnixNano": "0",
                            "attributes": [{ "key": "gen_ai.tool.name", "value": { "stringValue": "lookup" } }] }]
                    } },
                    { "name": "latency", "histogram": {
                        "aggregationTemporality": 2,
                        "dataPoints": [{ "count": "3", "sum": 0.9, "bucketCounts": ["1", "2", "0"],
                            "explicitBounds": [0.1, 0.5], "timeUnixNano": "0" }]
                    } }
                ] }]
            }]
        });
        let now = Utc::now();
        let samples = decode(
            body.to_string().as_bytes(),
            Encoding::Json,
            None,
            None,
            "token",
            now,
            Duration::from_secs(86_400),
        )
        .unwrap();
        let find = |metric: &str, le: Option<&str>| {
            samples
                .iter()
                .find(|s| s.metric == metric && s.labels.get("le").map(String::as_str) == le)
                .unwrap_or_else(|| panic!("{metric} {le:?} in {samples:?}"))
        };
        let requests = find("requests_total", None);
        assert_eq!(requests.value, 7.0);
        assert_eq!(requests.source, "search-api");
        assert_eq!(requests.labels["gen_ai_tool_name"], "lookup");
        assert_eq!(requests.labels["instance"], "pod-1");
        assert_eq!(requests.ts, now);
        assert_eq!(find("latency_count", None).value, 3.0);
        assert_eq!(find("latency_sum", None).value, 0.9);
        assert_eq!(find("latency_bucket", Some("0.1")).value, 1.0);
        assert_eq!(find("latency_bucket", Some("0.5")).value, 3.0);
        assert_eq!(find("latency_bucket", Some("+Inf")).value, 3.0);
    }

    #[test]
    fn bad_requests_name_the_problem_and_yield_nothing() {
        let now = Utc::now();
        let decode_json = |v: serde_json::Value| {
            decode(
                v.to_string().as_bytes(),
                Encoding::Json,
                None,
                None,
                "t",
                now,
                Duration::from_secs(3600),
            )
        };
        assert!(decode_json(serde_json::json!({ "resourceMetrics": [] })).is_err());
        let old = serde_json::json!({ "resourceMetrics": [{ "scopeMetrics": [{ "metrics": [
            { "name": "g", "gauge": { "dataPoints": [{ "asDouble": 1.0, "timeUnixNano": "1000" }] } }
        ] }] }] });
        let e = decode_json(old).unwrap_err();
        assert!(
            e.to_string().contains("older than the retention period"),
            "{e}"
        );
        assert!(decode(
            b"\x01\x02garbage",
            Encoding::Protobuf,
            None,
            None,
            "t",
            now,
            Duration::from_secs(3600)
        )
        .is_err());
    }
}
