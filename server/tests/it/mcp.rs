//! MCP: the probe against real MCP servers nobody here wrote — the reference server
//! `@modelcontextprotocol/server-everything` (npm, over stdio and Streamable HTTP) and a small server built with the
//! Python `mcp` SDK (`mcp_test_server.py`, told through a control file to slow down, fail a tool or change a
//! schema) — and mcpulse's own `/mcp`, called by rmcp's client and by the MCP Inspector CLI.
//! scripts/test installs the npm packages (node_modules) and the Python SDK (the interpreter named by TEST_PYTHON).

use crate::helpers::{eventually, spawn_app, spawn_app_with_config, stored, TestApp};
use app::types::Role;
use mcpulse::auth::tokens::{Scope, Tokens};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn everything_js() -> String {
    let path = repo().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup (npm ci)",
        path.display()
    );
    path.display().to_string()
}

fn python() -> String {
    std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn python_server() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/mcp_test_server.py")
        .display()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port`.
async fn listening(port: u16) {
    eventually(
        Duration::from_secs(20),
        "the server to listen",
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await
}

async fn everything_http(port: u16) -> Server {
    let child = Command::new("node")
        .arg(everything_js())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node");
    let server = Server(child);
    listening(port).await;
    server
}

async fn python_http(control: &std::path::Path, port: u16) -> Server {
    let child = Command::new(python())
        .arg(python_server())
        .arg(control)
        .arg("http")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {} (set TEST_PYTHON): {e}", python()));
    let server = Server(child);
    listening(port).await;
    server
}

type Rows = [(String, BTreeMap<String, String>, f64)];

/// The latest value of `metric` in the series whose labels include every one of `labels`.
fn value(rows: &Rows, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    rows.iter()
        .find(|(m, l, _)| {
            m == metric
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|r| r.2)
}

/// The health of source `id` as `/api/sources` reports it.
async fn health(app: &TestApp, client: &reqwest::Client, id: &str) -> Value {
    let body: Value = app.get(client, "/api/sources").await.json().await.unwrap();
    body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no source {id} in {body}"))
}

#[tokio::test]
async fn the_reference_server_is_probed_over_stdio_and_streamable_http() {
    let port = free_port();
    let _http = everything_http(port).await;
    let config = format!(
        r#"
[[sources]]
id = "everything-stdio"
kind = "mcp"
target = "node"
args = ["{js}"]
interval = "3s"
calls = [{{ tool = "echo", arguments = {{ message = "hello" }} }}]

[[sources]]
id = "everything-http"
kind = "mcp"
target = "http://127.0.0.1:{port}/mcp"
interval = "3s"
calls = [{{ tool = "get-sum", arguments = '{{"a": 2, "b": 3}}' }}, {{ tool = "no-such-tool" }}]
"#,
        js = everything_js()
    );
    let app = spawn_app_with_config(Some(&config), &[]).await;
    app.add_user("viewer", Role::Viewer).await;
    let client = app.signed_in("viewer").await;
    for (source, tool) in [("everything-stdio", "echo"), ("everything-http", "get-sum")] {
        let rows = eventually(Duration::from_secs(45), "two probe rounds", || async {
            let rows = stored(&app, source).await;
            (value(&rows, "requests_sent", &[]).unwrap_or(0.0) >= 8.0).then_some(rows)
        })
        .await;
        assert_eq!(value(&rows, "up", &[]), Some(1.0), "{source}: {rows:?}");
        let info = rows
            .iter()
            .find(|(m, _, _)| m == "mcp_server_info")
            .unwrap_or_else(|| panic!("{source}: no mcp_server_info in {rows:?}"));
        assert!(
            info.1["mcp_server_name"].contains("everything"),
            "{source}: {info:?}"
        );
        assert!(!info.1["mcp_protocol_version"].is_empty());
        assert!(value(&rows, "mcp_tools_count", &[]).unwrap() >= 3.0);
        assert!(value(&rows, "mcp_tools_schema_hash", &[]).is_some());
        assert_eq!(value(&rows, "mcp_tools_schema_changed", &[]), Some(0.0));
        assert!(value(&rows, "avg_latency_ms", &[]).unwrap() > 0.0);
        assert_eq!(value(&rows, "connection_errors", &[]), Some(0.0));
        let call = [
            ("mcp_method_name", "tools/call"),
            ("gen_ai_tool_name", tool),
        ];
        let ms = value(&rows, "mcp_probe_latency_ms", &call)
            .unwrap_or_else(|| panic!("{source}: no latency of {tool} in {rows:?}"));
        assert!(ms > 0.0 && ms < 5000.0, "{ms}");
        assert!(
            rows.iter().all(|(m, l, _)| m != "mcp_probe_latency_ms"
                || l.get("gen_ai_tool_name").map(String::as_str) != Some(tool)
                || !l.contains_key("error_type")),
            "{tool} never failed: {rows:?}"
        );
        // The OpenTelemetry-named histogram counts every call, cumulatively.
        let inf = [call[0], call[1], ("le", "+Inf")];
        assert!(value(&rows, "mcp_client_operation_duration_bucket", &inf).unwrap() >= 2.0);
        let ping = [("mcp_method_name", "ping"), ("le", "+Inf")];
        assert!(value(&rows, "mcp_client_operation_duration_bucket", &ping).unwrap() >= 2.0);
        let sent = value(&rows, "requests_sent", &[]).unwrap();
        let received = value(&rows, "responses_received", &[]).unwrap();
        assert!(
            received <= sent && received >= sent - 1.0,
            "{sent} {received}"
        );
        // A tool list was recorded for the MCP page.
        let versions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mcp_tool_schemas WHERE source = $1")
                .bind(source)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(versions, 1, "{source}");
    }
    // Calling a tool the server does not have is an error of that call, shown as a warning while the server is up.
    let rows = stored(&app, "everything-http").await;
    assert!(
        rows.iter().any(|(m, l, _)| m == "mcp_probe_latency_ms"
            && l.get("gen_ai_tool_name").map(String::as_str) == Some("no-such-tool")
            && l.contains_key("error_type")),
        "{rows:?}"
    );
    let h = health(&app, &client, "everything-http").await;
    assert_eq!(h["up"], true, "{h}");
    assert!(
        h["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-tool"),
        "{h}"
    );
    assert_eq!(h["kind"], "mcp");
    app.stop().await;
}

#[tokio::test]
async fn a_python_sdk_server_that_fails_slows_down_changes_schema_and_drops_the_session() {
    let dir = crate::cli::tempdir();
    let control = dir.join("control.json");
    let set = |v: Value| std::fs::write(&control, v.to_string()).unwrap();
    set(serde_json::json!({}));
    let port = free_port();
    let server = python_http(&control, port).await;
    let config = format!(
        r#"
[[sources]]
id = "py"
kind = "mcp"
target = "http://127.0.0.1:{port}/mcp"
interval = "2s"
calls = [{{ tool = "lookup", arguments = {{ query = "weather" }} }}, {{ tool = "add", arguments = {{ a = 1, b = 2 }} }}]
"#
    );
    let app = spawn_app_with_config(Some(&config), &[]).await;
    app.add_user("viewer", Role::Viewer).await;
    let client = app.signed_in("viewer").await;
    let rows = eventually(Duration::from_secs(30), "a healthy round", || async {
        let rows = stored(&app, "py").await;
        (value(&rows, "up", &[]) == Some(1.0) && value(&rows, "mcp_tools_count", &[]).is_some())
            .then_some(rows)
    })
    .await;
    let info = rows
        .iter()
        .find(|(m, _, _)| m == "mcp_server_info")
        .unwrap();
    assert_eq!(info.1["mcp_server_name"], "pytest-mcp");
    assert_eq!(info.1["mcp_server_version"], "1.2.3");
    assert_eq!(value(&rows, "mcp_tools_count", &[]), Some(2.0));
    let first_hash = value(&rows, "mcp_tools_schema_hash", &[]).unwrap();

    // A failing tool: the call is an error of type tool_error, the source stays up and says which tool failed.
    set(serde_json::json!({ "fail": true }));
    let h = eventually(Duration::from_secs(20), "the failure to show", || async {
        let h = health(&app, &client, "py").await;
        h["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("tool lookup failed: the lookup backend is down"))
            .then_some(h)
    })
    .await;
    assert_eq!(h["up"], true, "{h}");
    let rows = stored(&app, "py").await;
    let failed = [
        ("gen_ai_tool_name", "lookup"),
        ("error_type", "tool_error"),
        ("le", "+Inf"),
    ];
    assert!(value(&rows, "mcp_client_operation_duration_bucket", &failed).unwrap() >= 1.0);

    // A schema change: a new version is recorded and flagged for one round.
    set(serde_json::json!({ "schema": 2 }));
    eventually(Duration::from_secs(20), "the schema change", || async {
        let versions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mcp_tool_schemas WHERE source = 'py'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        (versions == 2).then_some(())
    })
    .await;
    let flagged: f64 = eventually(Duration::from_secs(10), "the changed flag", || async {
        sqlx::query_scalar::<_, Option<f64>>(
            "SELECT max(x.value) FROM series s JOIN samples_in('-infinity', 'infinity') x ON x.series_id = s.id
             WHERE s.source = 'py' AND s.metric = 'mcp_tools_schema_changed'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .filter(|v| *v == 1.0)
    })
    .await;
    assert_eq!(flagged, 1.0);
    let rows = stored(&app, "py").await;
    assert_ne!(
        value(&rows, "mcp_tools_schema_hash", &[]).unwrap(),
        first_hash
    );

    // A server that stops answering tool calls: the round ends on time with a clear warning, and rounds go on.
    set(serde_json::json!({ "schema": 2, "delay_ms": 30000 }));
    let h = eventually(Duration::from_secs(20), "the timeout to show", || async {
        let h = health(&app, &client, "py").await;
        h["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("tools/call lookup: no answer within"))
            .then_some(h)
    })
    .await;
    let scraped = h["last_scrape"].as_str().unwrap().to_string();
    let later = eventually(Duration::from_secs(10), "the next round", || async {
        let h = health(&app, &client, "py").await;
        (h["last_scrape"].as_str() != Some(scraped.as_str())).then_some(h)
    })
    .await;
    assert!(
        later["last_duration_ms"].as_f64().unwrap() < 2000.0,
        "{later}"
    );
    let rows = stored(&app, "py").await;
    assert!(
        value(
            &rows,
            "mcp_probe_latency_ms",
            &[("gen_ai_tool_name", "lookup"), ("error_type", "timeout")]
        )
        .is_some(),
        "{rows:?}"
    );

    // The server restarts and forgets its sessions: the probe reports it, then reconnects.
    set(serde_json::json!({}));
    drop(server);
    let h = eventually(
        Duration::from_secs(20),
        "the lost session to show",
        || async {
            let h = health(&app, &client, "py").await;
            (h["up"] == false).then_some(h)
        },
    )
    .await;
    let error = h["last_error"].as_str().unwrap_or("");
    assert!(
        error.contains("session was lost") || error.contains("could not connect"),
        "{h}"
    );
    let _server = python_http(&control, port).await;
    eventually(
        Duration::from_secs(30),
        "the probe to reconnect",
        || async {
            let h = health(&app, &client, "py").await;
            (h["up"] == true).then_some(())
        },
    )
    .await;
    let rows = stored(&app, "py").await;
    assert!(value(&rows, "connection_errors", &[]).unwrap() >= 1.0);
    app.stop().await;
}

#[tokio::test]
async fn unreachable_broken_and_hanging_servers_give_clear_errors() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Admin).await;
    let client = app.signed_in("admin").await;
    let dir = crate::cli::tempdir();
    let control = dir.join("control.json");
    std::fs::write(&control, r#"{"delay_ms": 30000}"#).unwrap();
    let test = |def: Value| {
        let client = client.clone();
        let base = app.base.clone();
        async move {
            let res = client
                .post(format!("{base}/api/sources/test"))
                .json(&def)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            assert!(status.is_success(), "{status} {body}");
            body
        }
    };
    // No such program.
    let r = test(
        serde_json::json!({"kind": "mcp", "target": "mcpulse-no-such-server", "interval": "5s"}),
    )
    .await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("could not start `mcpulse-no-such-server`"),
        "{r}"
    );
    // A program that exits at once: its stderr is quoted.
    let r = test(serde_json::json!({
        "kind": "mcp", "target": python(), "args": ["-c", "import sys; sys.exit('config file missing')"],
        "interval": "5s"
    }))
    .await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"].as_str().unwrap().contains("config file missing"),
        "{r}"
    );
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("the server exited with code 1; its stderr: config file missing"),
        "its exit code is said: {r}"
    );
    // A program that dies of a signal before answering: the signal is named.
    let r = test(serde_json::json!({
        "kind": "mcp", "target": python(), "args": ["-c", "import os; os.kill(os.getpid(), 9)"],
        "interval": "5s"
    }))
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("(the server was killed by signal 9 (SIGKILL))"),
        "{r}"
    );
    // A stdio server sees its own `env` and a minimal environment, never mcpulse's (TEST_PYTHON, DATABASE_URL …).
    let r = test(serde_json::json!({
        "kind": "mcp", "target": python(), "env": {"GREETING": "hi"}, "interval": "5s",
        "args": ["-c", "import os, sys; sys.exit('env: ' + ','.join(sorted(k for k in os.environ if k not in ('PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TMPDIR', 'USER', 'NODE_PATH'))))"],
    }))
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("stderr: env: GREETING)"),
        "{r}"
    );
    // An HTTP endpoint that is not an MCP server.
    let r = test(serde_json::json!({"kind": "mcp", "target": format!("{}/health", app.base), "interval": "5s"})).await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("could not connect: initialize failed"),
        "{r}"
    );
    // Nothing listening.
    let r = test(serde_json::json!({"kind": "mcp", "target": format!("http://127.0.0.1:{}/mcp", free_port()), "interval": "5s"})).await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"].as_str().unwrap().contains("could not connect"),
        "{r}"
    );
    // A stdio server whose tool hangs: the round ends within its timeout with the call named. (The interval leaves
    // the Python server time to start on a busy machine: seen taking 3.5 s under load.)
    let started = std::time::Instant::now();
    let r = test(serde_json::json!({
        "kind": "mcp", "target": python(), "args": [python_server(), control.display().to_string(), "stdio"],
        "interval": "10s", "calls": [{"tool": "add", "arguments": "{\"a\": 1, \"b\": 2}"}]
    }))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r["ok"], true, "the server itself answers: {r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("tools/call add: no answer within"),
        "{r}"
    );
    // A stdio server that crashes mid-session: the round names the call, the exit code and its last stderr line.
    std::fs::write(&control, r#"{"exit_code": 7}"#).unwrap();
    let r = test(serde_json::json!({
        "kind": "mcp", "target": python(), "args": [python_server(), control.display().to_string(), "stdio"],
        "interval": "10s", "calls": [{"tool": "add", "arguments": "{\"a\": 1, \"b\": 2}"}]
    }))
    .await;
    let error = r["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the session was lost during tools/call add")
            && error.contains("(the server exited with code 7; its stderr: fatal: out of memory)"),
        "{r}"
    );
    // Secrets are shown redacted and kept when the form sends the placeholder back for the same server, but never
    // follow a changed target.
    let def = serde_json::json!({"id": "remote", "kind": "mcp", "target": "http://127.0.0.1:9/mcp", "interval": "1h",
        "headers": {"Authorization": "Bearer s3cret"}, "enabled": false});
    let res = client
        .post(format!("{}/api/sources", app.base))
        .json(&def)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let shown = health(&app, &client, "remote").await;
    assert_eq!(
        shown["definition"]["headers"]["Authorization"],
        app::types::REDACTED,
        "{shown}"
    );
    assert!(!shown.to_string().contains("s3cret"));
    let mut back = shown["definition"].clone();
    let res = client
        .put(format!("{}/api/sources/remote", app.base))
        .json(&back)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stored: String = sqlx::query_scalar(
        "SELECT options->'headers'->>'Authorization' FROM sources WHERE id = 'remote'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, "Bearer s3cret");
    back["target"] = "http://attacker.example/mcp".into();
    let res = client
        .put(format!("{}/api/sources/remote", app.base))
        .json(&back)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["kind"]["Invalid"]["field"], "headers", "{body}");
    // Bad definitions are refused per field.
    for (def, field) in [
        (
            serde_json::json!({"kind": "mcp", "target": "", "interval": "5s"}),
            "target",
        ),
        (
            serde_json::json!({"kind": "mcp", "target": "npx -y server", "interval": "5s"}),
            "target",
        ),
        (
            serde_json::json!({"kind": "mcp", "target": "http://x/mcp", "headers": {"Mcp-Session-Id": "1"}}),
            "headers",
        ),
        (
            serde_json::json!({"kind": "mcp", "target": "node", "calls": [{"tool": "echo", "arguments": "[1]"}]}),
            "calls",
        ),
        (
            serde_json::json!({"kind": "prometheus", "target": "http://x/metrics", "args": ["a"]}),
            "args",
        ),
    ] {
        let res = client
            .post(format!("{}/api/sources/test", app.base))
            .json(&def)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{def}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["kind"]["Invalid"]["field"], field, "{def}: {body}");
    }
    app.stop().await;
}

async fn token(app: &TestApp, name: &str, scopes: &[Scope], by: &str, role: Role) -> String {
    Tokens::new(app.pool.clone())
        .create_with_role(name, scopes, None, by, role)
        .await
        .unwrap()
        .1
}

/// Runs the MCP Inspector CLI (npm `@modelcontextprotocol/inspector`) against `url`.
fn inspector(url: &str, token: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("node");
    // It finds its own files from the working directory: run it from the repository's root.
    cmd.current_dir(repo())
        .arg("node_modules/@modelcontextprotocol/inspector/cli/build/cli.js")
        .args(["--cli", url, "--transport", "http"]);
    if let Some(t) = token {
        cmd.arg("--header")
            .arg(format!("Authorization: Bearer {t}"));
    }
    let out = cmd.args(args).output().expect("node");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn mcpulse_answers_the_mcp_inspector_and_refuses_calls_without_a_token() {
    let app = spawn_app().await;
    app.add_user("vera", Role::Viewer).await;
    app.add_user("ed", Role::Editor).await;
    // Vera is a viewer: her token asks for editor but acts as a viewer. Ed's editor token may change things, and so
    // may an editor token made with the CLI (no user behind it).
    let viewer = token(&app, "agent", &[Scope::Mcp], "vera", Role::Editor).await;
    let editor = token(&app, "ed-agent", &[Scope::Mcp], "ed", Role::Editor).await;
    let cli_editor = token(&app, "ops-agent", &[Scope::Mcp], "cli", Role::Editor).await;
    let ingest_only = token(&app, "pusher", &[Scope::Ingest], "ed", Role::Editor).await;
    let url = format!("{}/mcp", app.base);

    // Raw HTTP: no token 401 (with a Bearer challenge), a token without the mcp scope 403.
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let http = reqwest::Client::new();
    let res = http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let res = http
        .post(&url)
        .bearer_auth(&ingest_only)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The Inspector CLI lists the tools and calls one.
    let url2 = url.clone();
    let viewer2 = viewer.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        inspector(&url2, Some(&viewer2), &["--method", "tools/list"])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    for tool in [
        "list_sources",
        "query_metric",
        "list_alerts",
        "latest_report",
        "acknowledge_alert",
        "silence_alert",
    ] {
        assert!(
            out.contains(&format!("\"name\": \"{tool}\"")),
            "{tool}: {out}"
        );
    }
    let url2 = url.clone();
    let viewer2 = viewer.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        inspector(
            &url2,
            Some(&viewer2),
            &["--method", "tools/call", "--tool-name", "list_sources"],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains(r#"\"id\": \"self\""#), "{out}");
    // Without a token the Inspector is refused.
    let url2 = url.clone();
    let (ok, out) =
        tokio::task::spawn_blocking(move || inspector(&url2, None, &["--method", "tools/list"]))
            .await
            .unwrap();
    assert!(!ok, "{out}");
    assert!(!out.contains("list_sources"), "{out}");

    // rmcp's client: a metric query works; a viewer's token may not acknowledge alerts.
    use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::ServiceExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connect = |secret: String| {
        let url = url.clone();
        async move {
            let transport = StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url).auth_header(secret),
            );
            ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("test", "1"),
            )
            .serve(transport)
            .await
            .unwrap()
        }
    };
    let client = connect(viewer.clone()).await;
    let args = |v: Value| v.as_object().unwrap().clone();
    let text = |r: &rmcp::model::CallToolResult| {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<String>()
    };
    eventually(Duration::from_secs(15), "self to be collected", || async {
        let r = client
            .call_tool(
                CallToolRequestParams::new("query_metric").with_arguments(args(
                    serde_json::json!({"metric": "up", "sources": ["self"], "start": "-5m"}),
                )),
            )
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&text(&r)).ok()?;
        (body["series"][0]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty()))
        .then_some(())
    })
    .await;
    let r = client
        .call_tool(
            CallToolRequestParams::new("acknowledge_alert")
                .with_arguments(args(serde_json::json!({"rule_id": 1, "series_id": 1}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("editor"), "{}", text(&r));
    let r = client
        .call_tool(
            CallToolRequestParams::new("list_alerts")
                .with_arguments(args(serde_json::json!({"state": "exploded"}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("state"), "{}", text(&r));
    let _ = client.cancel().await;
    for secret in [editor, cli_editor] {
        let client = connect(secret).await;
        let r = client
            .call_tool(
                CallToolRequestParams::new("acknowledge_alert")
                    .with_arguments(args(serde_json::json!({"rule_id": 99, "series_id": 99}))),
            )
            .await
            .unwrap();
        // Past the role check: there is no such alert.
        assert!(!text(&r).contains("role"), "{}", text(&r));
        let _ = client.cancel().await;
    }

    // Each tool's calls are collected as source self-mcp.
    let rows = eventually(Duration::from_secs(15), "self-mcp metrics", || async {
        let rows = stored(&app, "self-mcp").await;
        value(&rows, "requests_total", &[("tool", "acknowledge_alert")]).map(|_| rows)
    })
    .await;
    assert!(value(&rows, "requests_total", &[("tool", "list_sources")]).unwrap() >= 1.0);
    assert!(value(&rows, "errors_total", &[("tool", "acknowledge_alert")]).unwrap() >= 1.0);
    assert!(value(&rows, "active_connections", &[]).is_some());
    app.stop().await;
}

#[tokio::test]
async fn browser_clients_on_allowed_origins_pass_cors_and_others_are_refused() {
    let app = crate::helpers::spawn_app_with(&[(
        "MCPULSE_MCP_ALLOWED_ORIGINS",
        "http://agent.test:*,https://console.example.com:443",
    )])
    .await;
    app.add_user("vera", Role::Viewer).await;
    let secret = token(&app, "browser-agent", &[Scope::Mcp], "vera", Role::Viewer).await;
    let url = format!("{}/mcp", app.base);
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,mcp-session-id",
            )
            .send()
    };
    let res = preflight("http://agent.test:5173").await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://agent.test:5173"
    );
    let res = preflight("http://evil.test").await.unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));

    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = |origin: &'static str| {
        http.post(&url)
            .bearer_auth(&secret)
            .header("origin", origin)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
    };
    let res = post("http://evil.test").await.unwrap();
    assert_eq!(res.status(), 403, "an origin outside mcp.allowed_origins");
    let res = post("https://console.example.com").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://console.example.com"
    );
    app.stop().await;
}
