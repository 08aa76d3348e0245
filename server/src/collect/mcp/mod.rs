//! The `mcp` source ("probe"): an MCP client (the official `rmcp` SDK) that talks to an MCP server over
//! Streamable HTTP or stdio the way an agent would, and measures it.
//!
//! Data in: the server's answers. The probe connects and `initialize`s once, keeps the session, and every round
//! sends `ping`, `tools/list`, `resources/list` and `prompts/list` (when the server offers them) and the configured
//! `tools/call`s, each under what is left of the round's time. A stdio server is a child process, killed when the
//! probe drops it; a server that cannot be reached is retried with backoff (the next round, then after 2, 4, 8 …
//! intervals, at most 5 minutes apart).
//!
//! Data out: a [`Snapshot`] per round —
//! - the seed's client metrics `requests_sent`, `responses_received`, `connection_errors` (counted since the probe
//!   started) and `avg_latency_ms` (mean of this round's answered requests);
//! - OpenTelemetry's MCP client histogram as Prometheus-style cumulative series,
//!   `mcp_client_operation_duration_{bucket,sum,count}` (seconds) labelled `mcp_method_name`, `gen_ai_tool_name`
//!   and `error_type` — the names OTLP ingest gives the same metric pushed by an instrumented client;
//! - `mcp_probe_latency_ms` (each request of this round, same labels: what percentiles are computed from);
//! - `mcp_server_info{mcp_server_name, mcp_server_version, mcp_protocol_version} = 1`, `mcp_tools_count`,
//!   `mcp_resources_count`, `mcp_prompts_count`;
//! - `mcp_tools_schema_hash` (32 bits of a SHA-256 over the tools' names, descriptions and schemas) and
//!   `mcp_tools_schema_changed` (1 in the round a change is seen, else 0: alert on it).
//!
//! A new tool-list version is also written to `mcp_tool_schemas`; the MCP page and reports read all of it back
//! through the read model in `store/mcp.rs`.
//! Connection and protocol failures make the round's error (the source is down, with a message that says what
//! failed); a failing or slow tool call is a warning shown while the source stays up.

pub mod config;

use crate::collect::explain::plain_error;
use crate::collect::{CollectContext, Metric, Snapshot, Source, SourceInfo};
use crate::store::{Labels, SourceId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use config::{McpTarget, ToolCall};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ClientRequest, Implementation,
    PingRequest,
};
use rmcp::service::{PeerRequestOptions, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Bucket bounds (seconds) of `mcp_client_operation_duration`, as OpenTelemetry's MCP conventions advise.
const BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Lines of a stdio server's stderr kept for error messages.
const STDERR_LINES: usize = 8;
/// The only variables of mcpulse's environment a stdio server inherits.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "USER",
    "NODE_PATH",
];
/// Below this much time left after connecting, a round ends after `initialize` instead of calling a slow start
/// a hang.
const MIN_BUDGET: Duration = Duration::from_millis(500);

pub struct McpProbe {
    id: SourceId,
    name: String,
    labels: Labels,
    target: McpTarget,
    calls: Vec<ToolCall>,
    interval: Duration,
    /// Where tool-list versions are recorded (none for a trial round).
    pool: Option<sqlx::PgPool>,
    state: tokio::sync::Mutex<State>,
}

impl State {
    /// Records a failed connection: the next attempt is the next round after the first failure in a row, then
    /// after 2, 4, 8 … intervals (at most [`MAX_BACKOFF`]).
    fn back_off(&mut self, interval: Duration, error: String, now: Instant) {
        self.failures += 1;
        let wait = if self.failures <= 1 {
            Duration::ZERO
        } else {
            (interval * 2u32.saturating_pow(self.failures - 1)).min(MAX_BACKOFF)
        };
        self.retry_at = Some(now + wait);
        self.last_connect_error = Some(error);
    }
}

#[derive(Default)]
struct State {
    conn: Option<Conn>,
    /// Failed connection attempts in a row, and when the next may start.
    failures: u32,
    retry_at: Option<Instant>,
    last_connect_error: Option<String>,
    requests_sent: u64,
    responses_received: u64,
    connection_errors: u64,
    histograms: BTreeMap<OpKey, Histogram>,
    /// The hash of the latest tool list known (loaded from the database on the first round).
    schema_hash: Option<u32>,
    schema_loaded: bool,
}

struct Conn {
    client: RunningService<RoleClient, ClientConfig>,
    /// A stdio server's process (killed, group and all, when the connection is dropped).
    process: Option<Process>,
}

/// A stdio server's process as the probe sees it: the tail of its stderr and, once it has ended, how.
struct Process {
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Set once the stderr reader has read to the end.
    stderr_done: tokio::sync::watch::Receiver<bool>,
    exit: tokio::sync::watch::Receiver<Option<std::process::ExitStatus>>,
    /// Dropped with the connection: the watcher then kills the process.
    _kill_on_drop: tokio::sync::oneshot::Sender<()>,
}

impl Process {
    /// Spawns `command` with piped stdio in its own process group; a task reaps it and records how it ended.
    fn spawn(
        mut command: process_wrap::tokio::CommandWrap,
    ) -> std::io::Result<(
        Self,
        tokio::process::ChildStdout,
        tokio::process::ChildStdin,
    )> {
        use std::process::Stdio;
        command
            .command_mut()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let missing = || std::io::Error::other("the pipe to the process was not set up");
        let stdin = child.stdin().take().ok_or_else(missing)?;
        let stdout = child.stdout().take().ok_or_else(missing)?;
        let stderr = child.stderr().take().ok_or_else(missing)?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (stderr_read, stderr_done) = tokio::sync::watch::channel(false);
        tokio::spawn({
            let tail = tail.clone();
            async move {
                keep_tail(stderr, tail).await;
                let _ = stderr_read.send(true);
            }
        });
        let (ended, exit) = tokio::sync::watch::channel(None);
        let (kill_on_drop, dropped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = dropped => None,
            };
            match status {
                Some(status) => {
                    let _ = ended.send(Some(status));
                }
                None => {
                    let _ = Box::into_pin(child.kill()).await;
                }
            }
        });
        let process = Process {
            stderr: tail,
            stderr_done,
            exit,
            _kill_on_drop: kill_on_drop,
        };
        Ok((process, stdout, stdin))
    }

    /// How the process ended and the last lines of its stderr, for an error message ("" when there is nothing to
    /// say). A process whose pipe has just closed is given a moment to be reaped and to finish its stderr.
    async fn last_words(&self) -> String {
        let (mut exit, mut stderr_done) = (self.exit.clone(), self.stderr_done.clone());
        let _ = tokio::time::timeout(Duration::from_millis(250), async {
            let _ = exit.wait_for(Option::is_some).await;
            let _ = stderr_done.wait_for(|done| *done).await;
        })
        .await;
        let status = *exit.borrow();
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let stderr = tail.iter().cloned().collect::<Vec<_>>().join(" | ");
        match (status.map(describe_exit), stderr.is_empty()) {
            (None, true) => String::new(),
            (None, false) => format!(" (the server's stderr: {stderr})"),
            (Some(exit), true) => format!(" ({exit})"),
            (Some(exit), false) => format!(" ({exit}; its stderr: {stderr})"),
        }
    }
}

/// "the server exited with code 3", "the server was killed by signal 9 (SIGKILL)".
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("the server exited with code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("the server was killed by signal {signal}{name}")
        }
        None => format!("the server ended: {status}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct OpKey {
    method: &'static str,
    tool: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations at or below each bound (cumulative).
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (bound, n) in BOUNDS.iter().zip(self.buckets.iter_mut()) {
            if secs <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// How one request ended.
enum Outcome<T> {
    Answer(T),
    /// A JSON-RPC error answer, or a tool result flagged `isError`: (error.type, message).
    Failed(String, String),
    /// No answer in time.
    TimedOut,
    /// The session or the process is gone.
    Lost(String),
}

/// What one round gathers before it becomes a snapshot.
struct Round {
    /// The round's time by the collector's clock: when tool lists are recorded as seen.
    at: chrono::DateTime<chrono::Utc>,
    /// The same on the monotonic clock: what reconnection back-off is measured from.
    instant: Instant,
    metrics: Vec<Metric>,
    latencies_ms: Vec<f64>,
    /// Makes the source down.
    error: Option<String>,
    /// Shown while the source stays up.
    warnings: Vec<String>,
}

impl McpProbe {
    pub fn new(
        id: &SourceId,
        name: &str,
        labels: Labels,
        target: McpTarget,
        calls: Vec<ToolCall>,
        interval: Duration,
        pool: Option<sqlx::PgPool>,
    ) -> Self {
        McpProbe {
            id: id.clone(),
            name: name.to_string(),
            labels,
            target,
            calls,
            interval,
            pool,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// Starts a session: spawns the process or opens the HTTP session, then `initialize`.
    async fn connect(&self) -> Result<Conn, String> {
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcpulse-probe", env!("CARGO_PKG_VERSION")),
        );
        match &self.target {
            McpTarget::Http { url, headers } => {
                let mut custom = std::collections::HashMap::new();
                for (name, value) in headers {
                    let name = axum::http::HeaderName::try_from(name.as_str())
                        .map_err(|e| format!("header {name:?}: {e}"))?;
                    let value = axum::http::HeaderValue::try_from(value.as_str())
                        .map_err(|e| format!("header {name}: {e}"))?;
                    custom.insert(name, value);
                }
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(custom);
                // A session the server dropped is reported (and re-established by the next round), not hidden.
                config.reinit_on_expired_session = false;
                // reqwest 0.13 (rmcp's) finds its TLS crypto provider process-wide; install ring's once.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let transport = StreamableHttpClientTransport::from_config(config);
                let client = info
                    .serve(transport)
                    .await
                    .map_err(|e| format!("initialize failed: {}", plain_error(&chain(&e))))?;
                no_cache(&client).await;
                Ok(Conn {
                    client,
                    process: None,
                })
            }
            McpTarget::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                // The server sees only a minimal environment plus its own `env`: never mcpulse's (database URL,
                // SMTP credentials …).
                cmd.env_clear();
                for name in INHERITED_ENV {
                    if let Some(value) = std::env::var_os(name) {
                        cmd.env(name, value);
                    }
                }
                cmd.args(args).envs(env);
                // Its own process group, killed whole: `npx`/`uvx`/shell wrappers leave no orphans behind.
                let mut wrapped = process_wrap::tokio::CommandWrap::from(cmd);
                wrapped
                    .wrap(process_wrap::tokio::ProcessGroup::leader())
                    .wrap(process_wrap::tokio::KillOnDrop);
                let (process, stdout, stdin) = Process::spawn(wrapped)
                    .map_err(|e| plain_error(&format!("could not start `{command}`: {e}")))?;
                match info.serve((stdout, stdin)).await {
                    Ok(client) => {
                        no_cache(&client).await;
                        Ok(Conn {
                            client,
                            process: Some(process),
                        })
                    }
                    Err(e) => {
                        let last_words = process.last_words().await;
                        Err(format!(
                            "initialize failed: {}{last_words}",
                            plain_error(&chain(&e)),
                        ))
                    }
                }
            }
        }
    }

    /// One request under `budget`, with its latency and outcome recorded.
    async fn request<T>(
        &self,
        st: &mut State,
        round: &mut Round,
        key: (&'static str, Option<&str>),
        budget: Duration,
        fut: impl std::future::Future<Output = Result<T, ServiceError>>,
    ) -> Outcome<T> {
        self.request_checked(st, round, key, budget, fut, |_| None)
            .await
    }

    /// [`request`](Self::request), where `failed` may turn an answer into a failure (a tool result flagged
    /// `isError`), so it is recorded as one.
    async fn request_checked<T>(
        &self,
        st: &mut State,
        round: &mut Round,
        key: (&'static str, Option<&str>),
        budget: Duration,
        fut: impl std::future::Future<Output = Result<T, ServiceError>>,
        failed: impl Fn(&T) -> Option<(String, String)>,
    ) -> Outcome<T> {
        let (method, tool) = key;
        st.requests_sent += 1;
        let started = Instant::now();
        let outcome = match tokio::time::timeout(budget, fut).await {
            Err(_) => Outcome::TimedOut,
            Ok(Ok(v)) => match failed(&v) {
                Some((kind, message)) => Outcome::Failed(kind, message),
                None => Outcome::Answer(v),
            },
            Ok(Err(ServiceError::McpError(e))) => {
                Outcome::Failed(e.code.0.to_string(), e.message.to_string())
            }
            Ok(Err(ServiceError::Timeout { .. })) => Outcome::TimedOut,
            Ok(Err(
                e @ (ServiceError::TransportClosed
                | ServiceError::TransportSend(_)
                | ServiceError::Cancelled { .. }),
            )) => Outcome::Lost(chain(&e)),
            Ok(Err(e)) => Outcome::Failed("protocol_error".into(), plain_error(&chain(&e))),
        };
        let secs = started.elapsed().as_secs_f64();
        let error = match &outcome {
            Outcome::Answer(_) => None,
            Outcome::Failed(kind, _) => Some(kind.clone()),
            Outcome::TimedOut => Some("timeout".into()),
            Outcome::Lost(_) => Some("transport_error".into()),
        };
        if matches!(outcome, Outcome::Answer(_) | Outcome::Failed(..)) {
            st.responses_received += 1;
            round.latencies_ms.push(secs * 1000.0);
        }
        self.observe(st, round, method, tool, error, secs);
        outcome
    }

    fn observe(
        &self,
        st: &mut State,
        round: &mut Round,
        method: &'static str,
        tool: Option<&str>,
        error: Option<String>,
        secs: f64,
    ) {
        let key = OpKey {
            method,
            tool: tool.map(str::to_string),
            error,
        };
        let mut latency = Metric::new("mcp_probe_latency_ms", secs * 1000.0);
        latency.labels = op_labels(&key);
        round.metrics.push(latency);
        st.histograms.entry(key).or_default().observe(secs);
    }

    /// The round proper; `deadline` leaves time to store the snapshot.
    async fn round(&self, st: &mut State, round: &mut Round, deadline: Instant) {
        let left = || deadline.saturating_duration_since(Instant::now());
        if st.conn.is_none() {
            if let Some(at) = st.retry_at.filter(|at| *at > round.instant) {
                round.error = Some(format!(
                    "not connected ({}); next attempt in {}",
                    st.last_connect_error.as_deref().unwrap_or("no attempt yet"),
                    humantime::format_duration(Duration::from_secs(
                        at.saturating_duration_since(round.instant).as_secs() + 1
                    ))
                ));
                return;
            }
            st.requests_sent += 1;
            let started = Instant::now();
            let connected = match tokio::time::timeout(left(), self.connect()).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "initialize timed out after {}: the server does not answer",
                    ms(started.elapsed())
                )),
            };
            let secs = started.elapsed().as_secs_f64();
            match connected {
                Ok(conn) => {
                    st.responses_received += 1;
                    round.latencies_ms.push(secs * 1000.0);
                    self.observe(st, round, "initialize", None, None, secs);
                    st.retry_at = None;
                    st.last_connect_error = None;
                    st.conn = Some(conn);
                    if left() < MIN_BUDGET {
                        // Starting took the round's time; the next round measures the server.
                        round.warnings.push(format!(
                            "connected after {}; no time was left this round",
                            ms(started.elapsed())
                        ));
                        return;
                    }
                }
                Err(e) => {
                    st.connection_errors += 1;
                    self.observe(
                        st,
                        round,
                        "initialize",
                        None,
                        Some("connection_error".into()),
                        secs,
                    );
                    st.back_off(self.interval, e.clone(), round.instant);
                    round.error = Some(format!("could not connect: {e}"));
                    return;
                }
            }
        }
        let Some(conn) = st.conn.as_ref() else {
            return;
        };
        let peer = conn.client.peer().clone();
        let server = conn.client.peer_info();
        if let Some(info) = &server {
            let mut m = Metric::new("mcp_server_info", 1.0);
            let (name, version) = info
                .server_info
                .as_ref()
                .map(|i| (i.name.clone(), i.version.clone()))
                .unwrap_or_default();
            m.labels = Labels::from([
                ("mcp_server_name".to_string(), name),
                ("mcp_server_version".to_string(), version),
                (
                    "mcp_protocol_version".to_string(),
                    info.protocol_version.to_string(),
                ),
            ]);
            round.metrics.push(m);
        }
        let caps = server.as_ref().map(|s| s.capabilities.clone());

        // A lost session or a server that stops answering ends the round and the connection.
        // Lost again and again (a server that crashes after starting), reconnecting backs off too.
        let interval = self.interval;
        async fn lost(
            st: &mut State,
            round: &mut Round,
            interval: Duration,
            what: &str,
            why: String,
        ) {
            // A stdio server that crashed says how it ended (exit code or signal) and what it printed.
            let last_words = match st.conn.as_ref().and_then(|c| c.process.as_ref()) {
                Some(process) => process.last_words().await,
                None => String::new(),
            };
            st.connection_errors += 1;
            st.conn = None;
            let error = format!("{what}: {why}{last_words}");
            st.back_off(interval, error.clone(), round.instant);
            round.error = Some(error);
        }

        let ping = ClientRequest::PingRequest(PingRequest::default());
        let budget = left();
        match self
            .request(st, round, ("ping", None), budget, async {
                peer.send_request_with_option(ping, PeerRequestOptions::with_timeout(budget))
                    .await?
                    .await_response()
                    .await
            })
            .await
        {
            Outcome::Answer(_) => {}
            Outcome::Failed(kind, msg) => round
                .warnings
                .push(format!("ping answered with error {kind}: {msg}")),
            Outcome::TimedOut => {
                return lost(
                    st,
                    round,
                    interval,
                    "ping",
                    format!("no answer within {}: the server hangs", ms(budget)),
                )
                .await
            }
            Outcome::Lost(why) => {
                return lost(st, round, interval, "the session was lost during ping", why).await
            }
        }

        if caps.as_ref().is_none_or(|c| c.tools.is_some()) {
            match self
                .request(
                    st,
                    round,
                    ("tools/list", None),
                    left(),
                    peer.list_all_tools(),
                )
                .await
            {
                Outcome::Answer(tools) => {
                    round
                        .metrics
                        .push(Metric::new("mcp_tools_count", tools.len() as f64));
                    let (hash, listing) = schema_hash(&tools);
                    round
                        .metrics
                        .push(Metric::new("mcp_tools_schema_hash", hash as f64));
                    let changed = self.record_schema(st, hash, listing, round.at).await;
                    round.metrics.push(Metric::new(
                        "mcp_tools_schema_changed",
                        if changed { 1.0 } else { 0.0 },
                    ));
                }
                Outcome::Failed(kind, msg) => round
                    .warnings
                    .push(format!("tools/list answered with error {kind}: {msg}")),
                Outcome::TimedOut => {
                    return lost(
                        st,
                        round,
                        interval,
                        "tools/list",
                        "no answer in time: the server hangs".into(),
                    )
                    .await
                }
                Outcome::Lost(why) => {
                    return lost(
                        st,
                        round,
                        interval,
                        "the session was lost during tools/list",
                        why,
                    )
                    .await
                }
            }
        }
        if caps.as_ref().is_some_and(|c| c.resources.is_some()) {
            let listed = peer.list_all_resources();
            let counted = self
                .count_list(
                    st,
                    round,
                    "resources/list",
                    "mcp_resources_count",
                    left(),
                    listed,
                )
                .await;
            if let Err(why) = counted {
                return lost(
                    st,
                    round,
                    interval,
                    "the session was lost during resources/list",
                    why,
                )
                .await;
            }
        }
        if caps.as_ref().is_some_and(|c| c.prompts.is_some()) {
            let listed = peer.list_all_prompts();
            let counted = self
                .count_list(
                    st,
                    round,
                    "prompts/list",
                    "mcp_prompts_count",
                    left(),
                    listed,
                )
                .await;
            if let Err(why) = counted {
                return lost(
                    st,
                    round,
                    interval,
                    "the session was lost during prompts/list",
                    why,
                )
                .await;
            }
        }
        for call in &self.calls {
            let budget = left();
            if budget.is_zero() {
                round.warnings.push(format!(
                    "tools/call {}: skipped, the round's time was used up",
                    call.tool
                ));
                continue;
            }
            let params = CallToolRequestParams::new(call.tool.clone())
                .with_arguments(call.arguments.clone());
            let key = ("tools/call", Some(call.tool.as_str()));
            let result = self
                .request_checked(st, round, key, budget, peer.call_tool(params), |r| {
                    (r.is_error == Some(true)).then(|| {
                        (
                            "tool_error".to_string(),
                            first_text(r).unwrap_or_else(|| "no message".into()),
                        )
                    })
                })
                .await;
            match result {
                Outcome::Failed(kind, msg) if kind == "tool_error" => round
                    .warnings
                    .push(format!("tool {} failed: {msg}", call.tool)),
                Outcome::Answer(_) => {}
                Outcome::Failed(kind, msg) => round.warnings.push(format!(
                    "tools/call {} answered with error {kind}: {msg}",
                    call.tool
                )),
                Outcome::TimedOut => round.warnings.push(format!(
                    "tools/call {}: no answer within {}",
                    call.tool,
                    ms(budget)
                )),
                Outcome::Lost(why) => {
                    return lost(
                        st,
                        round,
                        interval,
                        &format!("the session was lost during tools/call {}", call.tool),
                        why,
                    )
                    .await
                }
            }
        }
    }

    /// A list the server offers besides tools (`resources/list`, `prompts/list`): its length as `metric`; a failure
    /// is a warning; a lost session is the error (why).
    async fn count_list<T>(
        &self,
        st: &mut State,
        round: &mut Round,
        method: &'static str,
        metric: &str,
        budget: Duration,
        fut: impl std::future::Future<Output = Result<Vec<T>, ServiceError>>,
    ) -> Result<(), String> {
        match self.request(st, round, (method, None), budget, fut).await {
            Outcome::Answer(items) => round.metrics.push(Metric::new(metric, items.len() as f64)),
            Outcome::Failed(kind, msg) => round
                .warnings
                .push(format!("{method} answered with error {kind}: {msg}")),
            Outcome::TimedOut => round.warnings.push(format!("{method}: no answer in time")),
            Outcome::Lost(why) => return Err(why),
        }
        Ok(())
    }

    /// Records a tool-list version the first time it is seen; whether it differs from the previous one.
    async fn record_schema(
        &self,
        st: &mut State,
        hash: u32,
        listing: serde_json::Value,
        seen_at: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        if !st.schema_loaded {
            if let Some(pool) = &self.pool {
                let latest: Result<Option<i64>, _> = sqlx::query_scalar(
                    "SELECT hash FROM mcp_tool_schemas WHERE source = $1 ORDER BY seen_at DESC LIMIT 1",
                )
                .bind(self.id.as_str())
                .fetch_optional(pool)
                .await;
                match latest {
                    Ok(latest) => {
                        st.schema_hash = latest.map(|h| h as u32);
                        st.schema_loaded = true;
                    }
                    Err(e) => {
                        tracing::warn!(source = %self.id, error = %e, "reading the last tool list failed");
                        return false;
                    }
                }
            }
        }
        if st.schema_hash == Some(hash) {
            return false;
        }
        let changed = st.schema_hash.is_some();
        if let Some(pool) = &self.pool {
            let stored = sqlx::query(
                "INSERT INTO mcp_tool_schemas (source, seen_at, hash, tools) VALUES ($1, $4, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(self.id.as_str())
            .bind(hash as i64)
            .bind(sqlx::types::Json(&listing))
            .bind(seen_at)
            .execute(pool)
            .await;
            if let Err(e) = stored {
                tracing::warn!(source = %self.id, error = %e, "recording the tool list failed");
                return changed;
            }
        }
        if changed {
            tracing::info!(source = %self.id, hash, "the server's tool schemas changed");
        }
        st.schema_hash = Some(hash);
        changed
    }
}

#[async_trait]
impl Source for McpProbe {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: "mcp".into(),
            description: match &self.target {
                McpTarget::Http { url, .. } => format!("MCP server at {url} (Streamable HTTP)"),
                McpTarget::Stdio { command, args, .. } => {
                    format!("MCP server `{}` (stdio)", shell_words(command, args))
                }
            },
        }
    }

    async fn collect(&self, ctx: &CollectContext) -> anyhow::Result<Snapshot> {
        // A tenth of the round's time (at most a second) is kept for storing what was measured.
        let reserve = (ctx.timeout / 10).min(Duration::from_secs(1));
        let deadline = Instant::now() + ctx.timeout.saturating_sub(reserve);
        let mut st = self.state.lock().await;
        let mut round = Round {
            at: ctx.now,
            instant: Instant::from_std(ctx.clock.instant()),
            metrics: Vec::new(),
            latencies_ms: Vec::new(),
            error: None,
            warnings: Vec::new(),
        };
        self.round(&mut st, &mut round, deadline).await;
        if round.error.is_none() && st.conn.is_some() {
            st.failures = 0;
        }
        Ok(self.snapshot(&st, round, ctx.now))
    }
}

impl McpProbe {
    fn snapshot(&self, st: &State, round: Round, now: DateTime<Utc>) -> Snapshot {
        let Round {
            mut metrics,
            latencies_ms,
            error,
            warnings,
            ..
        } = round;
        metrics.push(Metric::new("requests_sent", st.requests_sent as f64));
        metrics.push(Metric::new(
            "responses_received",
            st.responses_received as f64,
        ));
        metrics.push(Metric::new(
            "connection_errors",
            st.connection_errors as f64,
        ));
        if !latencies_ms.is_empty() {
            metrics.push(Metric::new(
                "avg_latency_ms",
                latencies_ms.iter().sum::<f64>() / latencies_ms.len() as f64,
            ));
        }
        for (key, h) in &st.histograms {
            let labels = op_labels(key);
            for (bound, n) in BOUNDS.iter().zip(h.buckets) {
                let mut m = Metric::new("mcp_client_operation_duration_bucket", n as f64);
                m.labels = labels.clone();
                m.labels.insert("le".into(), bound.to_string());
                metrics.push(m);
            }
            let mut inf = Metric::new("mcp_client_operation_duration_bucket", h.count as f64);
            inf.labels = labels.clone();
            inf.labels.insert("le".into(), "+Inf".into());
            metrics.push(inf);
            let mut count = Metric::new("mcp_client_operation_duration_count", h.count as f64);
            count.labels = labels.clone();
            metrics.push(count);
            let mut sum = Metric::new("mcp_client_operation_duration_sum", h.sum);
            sum.labels = labels;
            metrics.push(sum);
        }
        Snapshot {
            timestamp: now,
            source_id: self.id.clone(),
            metrics,
            labels: self.labels.clone(),
            error,
            warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
        }
    }
}

fn op_labels(key: &OpKey) -> Labels {
    let mut labels = Labels::from([("mcp_method_name".to_string(), key.method.to_string())]);
    if let Some(tool) = &key.tool {
        labels.insert("gen_ai_tool_name".into(), tool.clone());
    }
    if let Some(error) = &key.error {
        labels.insert("error_type".into(), error.clone());
    }
    labels
}

/// A stable hash of the tool list (sorted by name; names, descriptions, input and output schemas), and the
/// listing it was computed from.
pub fn schema_hash(tools: &[rmcp::model::Tool]) -> (u32, serde_json::Value) {
    let mut listing: Vec<serde_json::Value> = tools
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "description": t.description,
                "inputSchema": canonical(&serde_json::Value::Object((*t.input_schema).clone())),
                "outputSchema": t.output_schema.as_ref().map(|s| canonical(&serde_json::Value::Object((**s).clone()))),
            })
        })
        .collect();
    listing.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let listing = serde_json::Value::Array(listing);
    let digest = Sha256::digest(canonical(&listing).to_string().as_bytes());
    let hash = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (hash, listing)
}

/// `value` with every object's keys in sorted order, so equal schemas serialise equally.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, serde_json::Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

fn first_text(r: &rmcp::model::CallToolResult) -> Option<String> {
    r.content.iter().find_map(|c| {
        c.as_text()
            .map(|t| t.text.chars().take(300).collect::<String>())
    })
}

/// An error and its sources, joined by `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn shell_words(command: &str, args: &[String]) -> String {
    std::iter::once(command)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn keep_tail(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    // Read to the end whatever comes (not UTF-8, no newline): a stderr nobody drains blocks or kills the server.
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text: String = String::from_utf8_lossy(&line)
            .trim_end()
            .chars()
            .take(500)
            .collect();
        if text.is_empty() {
            continue;
        }
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    }
}

/// Turns off rmcp's client-side response cache: every list must reach the server, or latency, request counts and
/// schema changes would be measured from memory.
async fn no_cache(client: &RunningService<RoleClient, ClientConfig>) {
    client
        .peer()
        .set_response_cache_config(rmcp::ClientCacheConfig::disabled())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_hash_ignores_key_and_tool_order_but_not_schemas() {
        let tool = |name: &str, schema: serde_json::Value| {
            let serde_json::Value::Object(schema) = schema else {
                unreachable!()
            };
            rmcp::model::Tool::new(name.to_string(), "d", Arc::new(schema))
        };
        let a = tool(
            "add",
            serde_json::json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}),
        );
        let a_reordered = tool(
            "add",
            serde_json::json!({"properties": {"b": {"type": "number"}, "a": {"type": "number"}}, "type": "object"}),
        );
        let b = tool("echo", serde_json::json!({"type": "object"}));
        let a_changed = tool(
            "add",
            serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}),
        );
        let h = |tools: &[rmcp::model::Tool]| schema_hash(tools).0;
        assert_eq!(h(&[a.clone(), b.clone()]), h(&[b.clone(), a_reordered]));
        assert_ne!(h(&[a.clone(), b.clone()]), h(&[a_changed, b.clone()]));
        assert_ne!(h(&[a.clone(), b.clone()]), h(&[a]));
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.015);
        h.observe(0.7);
        assert_eq!(h.buckets[0], 0, "0.015 s is above the 10 ms bucket");
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[6], 2, "both are at most 1 s");
        assert_eq!((h.count, (h.sum * 1000.0).round()), (2, 715.0));
    }
}
