//! The MCP read model: what the MCP page and the reports' `mcp_tools` section show of probed servers, read from
//! what the probe wrote (`series`/`samples` of `mcp_probe_latency_ms` and `mcp_server_info`, `mcp_tool_schemas`).
//! Data in: those tables; data out: [`McpServerView`](app::types::McpServerView)s and per-operation statistics.
//! Written once here, used by the engine and by reports.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// The MCP page's view of every probed server (sources of kind `mcp`, from `statuses`): identity from the latest
/// `mcp_server_info`, tools from the newest recorded tool list, per-operation statistics from the
/// `mcp_probe_latency_ms` samples of the `window` before `now`, and the tool-list history.
pub async fn overview(
    pool: &sqlx::PgPool,
    statuses: Vec<app::types::SourceStatus>,
    window: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<app::types::McpServerView>> {
    use app::types::{McpOperationStats, McpServerView, McpToolView};
    let since = now - chrono::Duration::from_std(window)?;
    let probes: Vec<_> = statuses.into_iter().filter(|s| s.kind == "mcp").collect();
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = probes.iter().map(|s| s.id.clone()).collect();
    let mut stats: BTreeMap<String, Vec<McpOperationStats>> = BTreeMap::new();
    for (source, o) in operation_stats(pool, &ids, since, now).await? {
        stats.entry(source).or_default().push(o);
    }
    let mut out = Vec::new();
    for source in probes {
        let info: Option<sqlx::types::Json<BTreeMap<String, String>>> = sqlx::query_scalar(
            "SELECT labels FROM series WHERE source = $1 AND metric = 'mcp_server_info'
             ORDER BY last_ts DESC NULLS LAST LIMIT 1",
        )
        .bind(&source.id)
        .fetch_optional(pool)
        .await?;
        let info = info.map(|j| j.0).unwrap_or_default();
        let operations = stats.remove(&source.id).unwrap_or_default();
        let versions: Vec<(DateTime<Utc>, i64, sqlx::types::Json<serde_json::Value>)> =
            sqlx::query_as(
                "SELECT seen_at, hash, tools FROM mcp_tool_schemas WHERE source = $1
                 ORDER BY seen_at DESC LIMIT 50",
            )
            .bind(&source.id)
            .fetch_all(pool)
            .await?;
        let tools = versions
            .first()
            .and_then(|(_, _, t)| t.0.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|t| {
                let name = t["name"].as_str().unwrap_or_default().to_string();
                McpToolView {
                    description: t["description"].as_str().map(str::to_string),
                    stats: operations
                        .iter()
                        .find(|o| o.method == "tools/call" && o.tool.as_deref() == Some(&name))
                        .cloned(),
                    name,
                }
            })
            .collect();
        let history = history(&versions);
        out.push(McpServerView {
            server_name: info.get("mcp_server_name").cloned(),
            server_version: info.get("mcp_server_version").cloned(),
            protocol_version: info.get("mcp_protocol_version").cloned(),
            source,
            tools,
            operations,
            history,
        });
    }
    Ok(out)
}

/// Per source (of `sources`; empty: every source), method and tool: requests, failures, latency percentiles and the
/// most frequent error type over `[start, end)`, from the `mcp_probe_latency_ms` samples (one per request, read
/// through `chunk::points`, one operation's series at a time). Shared by the MCP page and the reports' `mcp_tools`
/// section. Ordered by source, method and tool (a missing method or tool last, as SQL orders NULLs).
pub async fn operation_stats(
    pool: &sqlx::PgPool,
    sources: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, app::types::McpOperationStats)>> {
    type Row = (i64, String, Option<String>, Option<String>, Option<String>);
    let series: Vec<Row> = sqlx::query_as(
        "SELECT id, source, labels->>'mcp_method_name', labels->>'gen_ai_tool_name', labels->>'error_type'
         FROM series WHERE metric = 'mcp_probe_latency_ms' AND (cardinality($1::text[]) = 0 OR source = ANY($1))",
    )
    .bind(sources)
    .fetch_all(pool)
    .await?;
    // One operation: its series, with their error types.
    type Key = (String, bool, Option<String>, bool, Option<String>);
    let mut operations: BTreeMap<Key, Vec<(i64, Option<String>)>> = BTreeMap::new();
    for (id, source, method, tool, error) in series {
        let key = (source, method.is_none(), method, tool.is_none(), tool);
        operations.entry(key).or_default().push((id, error));
    }
    let mut out = Vec::with_capacity(operations.len());
    for ((source, _, method, _, tool), members) in operations {
        let ids: Vec<i64> = members.iter().map(|(id, _)| *id).collect();
        let mut points = super::chunk::points(pool, &ids, start, end).await?;
        let mut latencies: Vec<f64> = Vec::new();
        let mut errors_by_type: BTreeMap<String, i64> = BTreeMap::new();
        let mut errors = 0;
        for (id, error) in &members {
            let Some(p) = points.remove(id) else {
                continue;
            };
            if let Some(e) = error {
                errors += p.values.len() as i64;
                *errors_by_type.entry(e.clone()).or_default() += p.values.len() as i64;
            }
            latencies.extend(p.values);
        }
        if latencies.is_empty() {
            continue;
        }
        super::chunk::sort_as_sql(&mut latencies);
        let at = |q: f64| Some(super::chunk::percentile_cont(&latencies, q));
        // The most frequent error type; of equally frequent ones the first by name (as SQL's `mode()`).
        let top_error = errors_by_type
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(e, _)| e.clone());
        out.push((
            source,
            app::types::McpOperationStats {
                method: method.unwrap_or_default(),
                tool,
                calls: latencies.len() as i64,
                errors,
                p50_ms: at(0.5),
                p95_ms: at(0.95),
                p99_ms: at(0.99),
                top_error,
            },
        ));
    }
    Ok(out)
}

/// Versions (newest first) with what changed from the one before each.
fn history(
    versions: &[(DateTime<Utc>, i64, sqlx::types::Json<serde_json::Value>)],
) -> Vec<app::types::McpSchemaVersion> {
    let by_name = |v: &serde_json::Value| -> BTreeMap<String, String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or_default().to_string(),
                    t.to_string(),
                )
            })
            .collect()
    };
    versions
        .iter()
        .enumerate()
        .map(|(i, (seen_at, hash, tools))| {
            let now = by_name(&tools.0);
            let before = versions.get(i + 1).map(|(_, _, t)| by_name(&t.0));
            let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
            if let Some(before) = &before {
                for (name, def) in &now {
                    match before.get(name) {
                        None => added.push(name.clone()),
                        Some(old) if old != def => changed.push(name.clone()),
                        Some(_) => {}
                    }
                }
                removed.extend(before.keys().filter(|n| !now.contains_key(*n)).cloned());
            }
            app::types::McpSchemaVersion {
                seen_at: *seen_at,
                hash: format!("{:08x}", *hash as u32),
                tools: now.len(),
                added,
                removed,
                changed,
            }
        })
        .collect()
}
