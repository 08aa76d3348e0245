//! mcpulse as an MCP server: `/mcp` (Streamable HTTP, the official `rmcp` SDK), so AI agents can ask about
//! sources, metrics, alerts and reports.
//!
//! Data in: JSON-RPC over HTTP from MCP clients. [`authenticate`] runs first: the request must carry an API token
//! (`Authorization: Bearer …`) with the `mcp` scope. It acts with the role chosen when it was made, but never more than
//! its creator's current role when the creator is a user (tokens made with the CLI keep theirs) — viewers read,
//! editors (and admins) may also acknowledge and silence alerts. The `Host` header must be
//! one of `mcp.allowed_hosts` and a browser `Origin` one of `mcp.allowed_origins` (rmcp checks both).
//! Data out: tool results (JSON text) read from the [`EngineImpl`], the same engine the web UI uses; and, per
//! tool, `requests_total`, `errors_total`, `response_time_ms` plus `active_connections` (open MCP sessions),
//! collected as source `self-mcp` by [`McpTelemetrySource`].

use crate::auth::tokens::{Scope, Tokens};
use crate::collect::{CollectContext, Metric, Snapshot, Source, SourceInfo};
use crate::engine::EngineImpl;
use crate::store::Labels;
use app::engine::Engine;
use app::error::AppError;
use app::types::{QueryRequest, ReportFilter, Role, SilenceDraft};
use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Who is calling: put into the request by [`authenticate`], read by the tools.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `token:NAME`, as recorded on what the caller changes.
    pub name: String,
    pub role: Role,
}

/// Per-tool counters since the previous collection round, and the open sessions.
#[derive(Default)]
pub struct McpTelemetry {
    tools: Mutex<BTreeMap<String, ToolCounters>>,
    sessions: AtomicI64,
}

#[derive(Default, Clone)]
struct ToolCounters {
    requests: u64,
    errors: u64,
    /// Response-time sum (ms) and count since the previous round.
    interval_ms: f64,
    interval_count: u64,
}

impl McpTelemetry {
    fn record(&self, tool: &str, failed: bool, took: Duration) {
        let mut tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        let c = tools.entry(tool.to_string()).or_default();
        c.requests += 1;
        c.errors += u64::from(failed);
        c.interval_ms += took.as_secs_f64() * 1000.0;
        c.interval_count += 1;
    }
}

/// Counts an open session while it lives.
struct SessionGuard(Arc<McpTelemetry>);

impl SessionGuard {
    fn new(telemetry: Arc<McpTelemetry>) -> Self {
        telemetry.sessions.fetch_add(1, Ordering::Relaxed);
        SessionGuard(telemetry)
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The tools of one MCP session.
#[derive(Clone)]
pub struct McpService {
    engine: Arc<EngineImpl>,
    telemetry: Arc<McpTelemetry>,
    _session: Arc<SessionGuard>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct QueryParams {
    /// Metric name, e.g. `mcp_probe_latency_ms` or `up`.
    pub metric: String,
    /// Source ids to include (empty: all).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Start: RFC 3339, Unix seconds or relative such as `-1h` (default: an hour ago).
    pub start: Option<String>,
    /// End (default: now).
    pub end: Option<String>,
    /// Bucket width such as `1m` (default: chosen from the range).
    pub step: Option<String>,
    /// avg (default), sum, min, max, count or last; for counters (`*_total`): rate (per second) or increase (per
    /// bucket); for histograms (`*_bucket`, or the family's name): p50, p90, p95, p99 or p999.
    pub aggregation: Option<String>,
    /// Empty: one series of everything; `series`: one per stored series; or label names such as `source`.
    pub group_by: Option<String>,
    /// The look-back window of rate/increase, such as `5m` (default: four sample intervals, at least the step).
    #[serde(default)]
    pub window: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AlertsParams {
    /// `firing` (default), `pending`, `resolved` or `all`.
    pub state: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReportParams {
    /// The report template's name (or its numeric id).
    pub template: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AlertRef {
    /// The alert's rule id (from list_alerts).
    pub rule_id: i64,
    /// The alert's series id (from list_alerts).
    pub series_id: i64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SilenceParams {
    /// The alert's rule id (from list_alerts).
    pub rule_id: i64,
    /// The alert's series id (from list_alerts).
    pub series_id: i64,
    /// How long, e.g. `2h`.
    pub duration: String,
    /// Why.
    pub comment: String,
}

type ToolResult = Result<CallToolResult, ErrorData>;

#[tool_router]
impl McpService {
    pub fn new(engine: Arc<EngineImpl>, telemetry: Arc<McpTelemetry>) -> Self {
        McpService {
            engine,
            _session: Arc::new(SessionGuard::new(telemetry.clone())),
            telemetry,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Lists the monitored sources (Prometheus endpoints, probed MCP servers, pushers) with their health: up/down, last error, last collection.",
        annotations(read_only_hint = true)
    )]
    async fn list_sources(&self, ctx: RequestContext<RoleServer>) -> ToolResult {
        self.run("list_sources", &ctx, Role::Viewer, async {
            let sources = self.engine.sources().await?;
            Ok(serde_json::json!(sources
                .iter()
                .map(|s| serde_json::json!({
                    "id": s.id, "name": s.name, "kind": s.kind, "state": s.state(),
                    "description": s.description, "last_error": s.last_error,
                    "last_scrape": s.last_scrape, "last_duration_ms": s.last_duration_ms,
                }))
                .collect::<Vec<_>>()))
        })
        .await
    }

    #[tool(
        description = "Queries a metric over a time range: per series, timestamps (ms) and values bucketed by step with an aggregation. At most 240 points per series.",
        annotations(read_only_hint = true)
    )]
    async fn query_metric(
        &self,
        Parameters(p): Parameters<QueryParams>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run("query_metric", &ctx, Role::Viewer, async {
            let result = self
                .engine
                .query(QueryRequest {
                    metric: p.metric,
                    sources: p.sources,
                    labels: p.labels,
                    start: p.start,
                    end: p.end,
                    step: p.step,
                    aggregation: p.aggregation,
                    group_by: p.group_by,
                    max_points: Some(240),
                    resolution: None,
                    window: p.window,
                })
                .await?;
            Ok(serde_json::to_value(&result).unwrap_or_default())
        })
        .await
    }

    #[tool(
        description = "Lists alerts: firing (default), pending, resolved or all, with rule, severity, value, threshold, labels and since when.",
        annotations(read_only_hint = true)
    )]
    async fn list_alerts(
        &self,
        Parameters(p): Parameters<AlertsParams>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run("list_alerts", &ctx, Role::Viewer, async {
            let state = p.state.unwrap_or_else(|| "firing".into());
            if !matches!(state.as_str(), "firing" | "pending" | "resolved" | "all") {
                return Err(AppError::invalid(
                    "state",
                    format!("{state:?}: expected firing, pending, resolved or all"),
                ));
            }
            let alerts: Vec<_> = self
                .engine
                .alerts()
                .await?
                .into_iter()
                .filter(|a| state == "all" || a.state == state)
                .collect();
            Ok(serde_json::to_value(&alerts).unwrap_or_default())
        })
        .await
    }

    #[tool(
        description = "Returns the latest successfully generated report of a report template: when it ran, the period it covers, and its full data (the JSON format) when the template produces JSON.",
        annotations(read_only_hint = true)
    )]
    async fn latest_report(
        &self,
        Parameters(p): Parameters<ReportParams>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run("latest_report", &ctx, Role::Viewer, async {
            let reports = &self.engine.reports;
            let template = match p.template.trim().parse::<i64>() {
                Ok(id) => reports.template(id).await?,
                Err(_) => reports.template_named(p.template.trim()).await?,
            };
            let latest = reports
                .reports(&ReportFilter {
                    template_id: Some(template.id),
                    limit: Some(50),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .find(|r| r.status == "succeeded")
                .ok_or_else(|| {
                    AppError::invalid(
                        "template",
                        format!("`{}` has no successful report yet", template.template.name),
                    )
                })?;
            let data = if latest.files.iter().any(|(f, _)| f == "json") {
                let (bytes, _) = reports
                    .file(latest.id, crate::report::template::Format::Json)
                    .await?;
                serde_json::from_slice::<serde_json::Value>(&bytes).ok()
            } else {
                None
            };
            Ok(serde_json::json!({ "report": latest, "data": data }))
        })
        .await
    }

    #[tool(
        description = "Acknowledges a pending or firing alert (its repeated notifications stop until it resolves). Needs an editor's token."
    )]
    async fn acknowledge_alert(
        &self,
        Parameters(p): Parameters<AlertRef>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run("acknowledge_alert", &ctx, Role::Editor, async {
            let caller = caller(&ctx)?;
            self.engine
                .acknowledge_alert(p.rule_id, p.series_id, &caller.name)
                .await?;
            Ok(serde_json::json!({ "acknowledged": true, "rule_id": p.rule_id, "series_id": p.series_id }))
        })
        .await
    }

    #[tool(
        description = "Silences one alert for a while: a silence matching its rule and series labels is created. Needs an editor's token."
    )]
    async fn silence_alert(
        &self,
        Parameters(p): Parameters<SilenceParams>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run("silence_alert", &ctx, Role::Editor, async {
            let caller = caller(&ctx)?;
            let alert = self
                .engine
                .alerts()
                .await?
                .into_iter()
                .find(|a| a.rule_id == p.rule_id && a.series_id == p.series_id)
                .ok_or_else(|| AppError::invalid("rule_id", "no such alert"))?;
            // Exact matches written as anchored, escaped regexes: a value is never read as matcher syntax.
            let exact = |k: &str, v: &str| format!("{k}=~^{}$", regex::escape(v));
            let mut matchers = vec![exact("alertname", &alert.rule_name)];
            matchers.extend(alert.labels.iter().map(|(k, v)| exact(k, v)));
            let silence = self
                .engine
                .create_silence(
                    &SilenceDraft {
                        matchers,
                        starts_at: None,
                        duration: p.duration,
                        comment: p.comment,
                    },
                    &caller.name,
                )
                .await?;
            Ok(serde_json::to_value(&silence).unwrap_or_default())
        })
        .await
    }
}

impl McpService {
    /// Runs a tool body for a caller of at least `min` role, records it, and turns the outcome into a result:
    /// data as JSON text; refusals and bad input as tool errors the agent can read.
    async fn run(
        &self,
        tool: &str,
        ctx: &RequestContext<RoleServer>,
        min: Role,
        body: impl std::future::Future<Output = Result<serde_json::Value, AppError>>,
    ) -> ToolResult {
        let started = Instant::now();
        let outcome = match caller(ctx) {
            Ok(c) if c.role >= min => body.await,
            Ok(c) => Err(AppError::Forbidden).map_err(|e| {
                tracing::info!(tool, caller = %c.name, "MCP tool refused: role too low");
                e
            }),
            Err(e) => Err(e),
        };
        self.telemetry
            .record(tool, outcome.is_err(), started.elapsed());
        Ok(match outcome {
            Ok(value) => CallToolResult::success(vec![ContentBlock::text(
                serde_json::to_string_pretty(&value).unwrap_or_default(),
            )]),
            Err(AppError::Forbidden) => CallToolResult::error(vec![ContentBlock::text(format!(
                "`{tool}` needs a token with the {} role; this one acts as {}",
                min.as_str(),
                caller(ctx).map(|c| c.role.as_str()).unwrap_or("nobody")
            ))]),
            Err(e @ AppError::Invalid { .. }) => {
                CallToolResult::error(vec![ContentBlock::text(e.to_string())])
            }
            Err(AppError::NotFound) => {
                CallToolResult::error(vec![ContentBlock::text("not found".to_string())])
            }
            Err(e) => {
                tracing::warn!(tool, error = %e, "MCP tool failed");
                CallToolResult::error(vec![ContentBlock::text(e.to_string())])
            }
        })
    }
}

fn caller(ctx: &RequestContext<RoleServer>) -> Result<Caller, AppError> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or(AppError::Unauthorized)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpService {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(rmcp::model::Implementation::new(
                "mcpulse",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "mcpulse monitors MCP servers and other services. Use list_sources for health, query_metric for \
                 numbers over time, list_alerts for what is wrong now, latest_report for a period's summary.",
            )
    }
}

/// `/mcp`'s settings (`mcp.*` in the configuration).
#[derive(Debug, Clone)]
pub struct McpSettings {
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

/// `/mcp`, for `http` to merge: the service behind the token check, behind CORS (outermost, so a browser's
/// preflight is answered before the token check).
pub fn router<S: Clone + Send + Sync + 'static>(
    engine: Arc<EngineImpl>,
    telemetry: Arc<McpTelemetry>,
    settings: &McpSettings,
    tokens: Arc<Tokens>,
    shutdown: CancellationToken,
) -> axum::Router<S> {
    axum::Router::new()
        .nest_service("/mcp", service(engine, telemetry, settings, shutdown))
        .layer(axum::middleware::from_fn_with_state(tokens, authenticate))
        .layer(cors(&settings.allowed_origins))
}

/// The `/mcp` service: a session per client, closed when `shutdown` is cancelled.
fn service(
    engine: Arc<EngineImpl>,
    telemetry: Arc<McpTelemetry>,
    settings: &McpSettings,
    shutdown: CancellationToken,
) -> StreamableHttpService<McpService, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_cancellation_token(shutdown);
    if settings.allowed_hosts.iter().any(|h| h == "*") {
        config = config.disable_allowed_hosts();
    }
    config = config
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation();
    StreamableHttpService::new(
        move || Ok(McpService::new(engine.clone(), telemetry.clone())),
        LocalSessionManager::default().into(),
        config,
    )
}

/// CORS for browser-based MCP clients on `mcp.allowed_origins` (none: no CORS headers, so browsers on other sites
/// cannot read answers; rmcp refuses their requests anyway). `scheme://host:*` allows any port.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    // (scheme, host, port; `None`: any port), with default ports filled in as browsers leave them out.
    let parse = |s: &str| {
        let u = url::Url::parse(s).ok()?;
        Some((
            u.scheme().to_string(),
            u.host_str()?.to_string(),
            u.port_or_known_default(),
        ))
    };
    let null = origins.iter().any(|o| o == "null");
    let entries: Vec<_> = origins
        .iter()
        .filter_map(|o| match o.strip_suffix(":*") {
            Some(base) => parse(base).map(|(s, h, _)| (s, h, None)),
            None => parse(o),
        })
        .collect();
    let allowed = move |origin: &HeaderValue| {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if origin == "null" {
            return null;
        }
        let Some((scheme, host, port)) = parse(origin) else {
            return false;
        };
        entries
            .iter()
            .any(|(s, h, p)| *s == scheme && *h == host && (p.is_none() || *p == port))
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| allowed(origin)))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::ACCEPT,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([HeaderName::from_static("mcp-session-id")])
}

/// Lets through requests with an API token that has the `mcp` scope, recording the caller and its role for the
/// tools; 401 (with `WWW-Authenticate: Bearer`) or 403 otherwise.
async fn authenticate(
    State(tokens): State<Arc<Tokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token =
        match tokens.authenticate(authorization, Scope::Mcp).await {
            Ok(token) => token,
            Err(AppError::Unauthorized) => return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({
                    "error": "an API token with the mcp scope is required (Authorization: Bearer …)"
                })),
            )
                .into_response(),
            Err(e) => return e.into_response(),
        };
    // A user's demotion reaches their tokens at once (the same rule as on the REST API).
    let role = match tokens.acting_as(&token).await {
        Ok(acting) => acting.role,
        Err(e) => return e.into_response(),
    };
    request.extensions_mut().insert(Caller {
        name: format!("token:{}", token.name),
        role,
    });
    next.run(request).await
}

/// The source `self-mcp`: what `/mcp` served since the previous round.
pub struct McpTelemetrySource(pub Arc<McpTelemetry>);

#[async_trait]
impl Source for McpTelemetrySource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: crate::names::SourceId::literal("self-mcp"),
            name: "mcpulse MCP endpoint".into(),
            kind: "self".into(),
            description: "calls of mcpulse's own MCP tools at /mcp".into(),
        }
    }

    async fn collect(&self, ctx: &CollectContext) -> anyhow::Result<Snapshot> {
        let mut metrics = vec![Metric::new(
            "active_connections",
            self.0.sessions.load(Ordering::Relaxed) as f64,
        )];
        let mut tools = self.0.tools.lock().unwrap_or_else(|p| p.into_inner());
        for (tool, c) in tools.iter_mut() {
            let labels = Labels::from([("tool".to_string(), tool.clone())]);
            let mut push = |name: &str, value: f64| {
                let mut m = Metric::new(name, value);
                m.labels = labels.clone();
                metrics.push(m);
            };
            push("requests_total", c.requests as f64);
            push("errors_total", c.errors as f64);
            if c.interval_count > 0 {
                push("response_time_ms", c.interval_ms / c.interval_count as f64);
            }
            c.interval_ms = 0.0;
            c.interval_count = 0;
        }
        Ok(Snapshot::new(
            ctx.now,
            &crate::names::SourceId::literal("self-mcp"),
            metrics,
            Labels::new(),
        ))
    }
}
