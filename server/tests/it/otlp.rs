//! OTLP/HTTP metrics ingest (`POST /v1/metrics`): protobuf and JSON, the mapping onto series, tokens, and a real
//! OpenTelemetry SDK (Python's, installed by scripts/test into the interpreter named by TEST_PYTHON) pushing to it.

use crate::helpers::{eventually, spawn_app, stored, TestApp};
use mcpulse::auth::tokens::{Scope, Tokens};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::time::Duration;

async fn token(app: &TestApp, name: &str, scopes: &[Scope]) -> String {
    Tokens::new(app.pool.clone())
        .create(name, scopes, None, "test")
        .await
        .unwrap()
        .1
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn value_of(
    rows: &[(String, BTreeMap<String, String>, f64)],
    metric: &str,
    label: Option<(&str, &str)>,
) -> f64 {
    rows.iter()
        .find(|(m, l, _)| {
            m == metric && label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
        })
        .unwrap_or_else(|| panic!("{metric} {label:?} not in {rows:?}"))
        .2
}

#[tokio::test]
async fn protobuf_and_json_requests_are_mapped_onto_series() {
    let app = spawn_app().await;
    let secret = token(&app, "otel", &[Scope::Ingest]).await;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
    let point = |v: f64, attrs: Vec<KeyValue>| NumberDataPoint {
        attributes: attrs,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "mcp-weather"),
                    kv("service.instance.id", "pod-7"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "mcp.server.sessions".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![point(3.0, vec![])],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "mcp.server.requests".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![point(
                                41.0,
                                vec![kv("gen_ai.tool.name", "forecast")],
                            )],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "mcp.server.operation.duration".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: vec![kv("mcp.method.name", "tools/call")],
                                time_unix_nano: now,
                                count: 10,
                                sum: Some(2.5),
                                bucket_counts: vec![4, 5, 1],
                                explicit_bounds: vec![0.1, 0.5],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let res = reqwest::Client::new()
        .post(format!("{}/v1/metrics", app.base))
        .bearer_auth(&secret)
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-protobuf");
    let rows = stored(&app, "mcp-weather").await;
    assert_eq!(value_of(&rows, "mcp_server_sessions", None), 3.0);
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_requests_total",
            Some(("gen_ai_tool_name", "forecast"))
        ),
        41.0
    );
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_requests_total",
            Some(("instance", "pod-7"))
        ),
        41.0
    );
    assert_eq!(
        value_of(&rows, "mcp_server_operation_duration_count", None),
        10.0
    );
    assert_eq!(
        value_of(&rows, "mcp_server_operation_duration_sum", None),
        2.5
    );
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_operation_duration_bucket",
            Some(("le", "0.1"))
        ),
        4.0
    );
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_operation_duration_bucket",
            Some(("le", "0.5"))
        ),
        9.0
    );
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_operation_duration_bucket",
            Some(("le", "+Inf"))
        ),
        10.0
    );

    // The same in OTLP JSON, to another source named explicitly; the answer is JSON too.
    let json = serde_json::json!({ "resourceMetrics": [{ "scopeMetrics": [{ "metrics": [
        { "name": "queue.depth", "gauge": { "dataPoints": [{ "asInt": "12", "timeUnixNano": now.to_string() }] } }
    ] }] }] });
    let res = reqwest::Client::new()
        .post(format!("{}/v1/metrics?source=queue", app.base))
        .bearer_auth(&secret)
        .json(&json)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "{}");
    assert_eq!(
        value_of(&stored(&app, "queue").await, "queue_depth", None),
        12.0
    );

    // Queryable like any series.
    let admin = {
        app.add_user("ad", app::types::Role::Viewer).await;
        app.signed_in("ad").await
    };
    let q: serde_json::Value = app
        .get(
            &admin,
            "/api/timeseries?metric=mcp_server_requests_total&start=-5m",
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(!q["series"].as_array().unwrap().is_empty(), "{q}");

    // Refusals change nothing: no token, a token without `ingest`, a broken body.
    let before = stored(&app, "mcp-weather").await.len();
    let res = reqwest::Client::new()
        .post(format!("{}/v1/metrics", app.base))
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let reader = token(&app, "reader", &[Scope::Read]).await;
    let res = reqwest::Client::new()
        .post(format!("{}/v1/metrics", app.base))
        .bearer_auth(&reader)
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = reqwest::Client::new()
        .post(format!("{}/v1/metrics", app.base))
        .bearer_auth(&secret)
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0x01, 0x02])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stored(&app, "mcp-weather").await.len(), before);
    app.stop().await;
}

const SDK_SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

endpoint, token = sys.argv[1], sys.argv[2]
exporter = OTLPMetricExporter(endpoint=endpoint, headers={"Authorization": "Bearer " + token})
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60000)
provider = MeterProvider(resource=Resource.create({"service.name": "py-mcp-server"}), metric_readers=[reader])
meter = provider.get_meter("mcp-test")
calls = meter.create_counter("mcp.server.tool.calls")
latency = meter.create_histogram("mcp.server.operation.duration", unit="s")
for i in range(5):
    calls.add(1, {"gen_ai.tool.name": "search"})
    latency.record(0.05 * (i + 1), {"mcp.method.name": "tools/call"})
meter.create_up_down_counter("mcp.server.sessions").add(2)
ok = provider.force_flush(10000)
provider.shutdown()
print("flushed" if ok else "flush failed", flush=True)
"#;

#[tokio::test]
async fn a_real_opentelemetry_sdk_pushes_metrics_that_are_stored_and_queryable() {
    let app = spawn_app().await;
    let secret = token(&app, "py", &[Scope::Ingest]).await;
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = crate::cli::tempdir();
    let script = dir.join("push.py");
    std::fs::write(&script, SDK_SCRIPT).unwrap();
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(format!("{}/v1/metrics", app.base))
        .arg(&secret)
        .output()
        .await
        .unwrap_or_else(|e| panic!("starting {python} (set TEST_PYTHON; scripts/test installs the OpenTelemetry SDK): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("flushed"),
        "the SDK's push failed (is opentelemetry-exporter-otlp-proto-http installed for {python}?):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = eventually(
        Duration::from_secs(10),
        "the SDK's metrics are stored",
        || async {
            let rows = stored(&app, "py-mcp-server").await;
            (!rows.is_empty()).then_some(rows)
        },
    )
    .await;
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_tool_calls_total",
            Some(("gen_ai_tool_name", "search"))
        ),
        5.0
    );
    assert_eq!(
        value_of(
            &rows,
            "mcp_server_operation_duration_count",
            Some(("mcp_method_name", "tools/call"))
        ),
        5.0
    );
    let sum = value_of(&rows, "mcp_server_operation_duration_sum", None);
    assert!(
        (sum - 0.75).abs() < 1e-9,
        "sum of the five recordings: {sum}"
    );
    assert!(rows
        .iter()
        .any(|(m, l, _)| m == "mcp_server_operation_duration_bucket" && l.contains_key("le")));
    // An up-down counter is a non-monotonic sum: it keeps its name.
    assert_eq!(value_of(&rows, "mcp_server_sessions", None), 2.0);
    app.stop().await;
}
