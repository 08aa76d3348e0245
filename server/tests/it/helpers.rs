//! `spawn_app()`: a running mcpulse on a random port with a fresh database, plus HTTP helpers.

use app::types::Role;
use mcpulse::auth::{NewPassword, Username, Users};
use mcpulse::config;
use mcpulse::db::{ClusterOwnership, Database};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery";

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestApp {
    pub base: String,
    pub addr: std::net::SocketAddr,
    db_name: String,
    config: config::Config,
    pub pool: sqlx::PgPool,
    shutdown: CancellationToken,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Creates an empty database and returns its URL and name.
pub async fn fresh_database() -> (String, String) {
    let admin = admin_url();
    let name = format!("mcpulse_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("TEST_DATABASE_URL must reach PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    (url.to_string(), name)
}

pub async fn drop_database(name: &str) {
    if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts mcpulse with the given extra environment-style settings (e.g. `("COLLECTION_INTERVAL", "1s")`).
pub async fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    spawn_app_with_config(None, settings).await
}

/// Starts mcpulse with a config file's text (e.g. `[[sources]]`) and environment-style settings.
pub async fn spawn_app_with_config(file: Option<&str>, settings: &[(&str, &str)]) -> TestApp {
    // Warnings and errors (internal errors carry their cause only in the log) show in a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let (database_url, db_name) = fresh_database().await;
    let mut env: BTreeMap<String, String> = [
        ("DATABASE_URL".to_string(), database_url.clone()),
        ("COLLECTION_INTERVAL".into(), "1s".into()),
    ]
    .into();
    for (k, v) in settings {
        env.insert(k.to_string(), v.to_string());
    }
    let mut config = config::from_sources(
        file.map(|f| (std::path::Path::new("mcpulse.toml"), f)),
        &env,
    )
    .expect("test configuration is valid");
    config.server.port = 0;
    start(config, db_name).await
}

/// Starts mcpulse with `config` on the existing database `db_name` (named by the config).
async fn start(config: config::Config, db_name: String) -> TestApp {
    let database = Database::open(&config, ClusterOwnership::Guest)
        .await
        .expect("open database");
    let pool = database.pool.clone();
    let shutdown = CancellationToken::new();
    let running = mcpulse::serve::start(config.clone(), database, shutdown.clone())
        .await
        .expect("server starts");
    TestApp {
        base: format!("http://{}", running.addr),
        addr: running.addr,

        db_name,
        config,
        pool,
        shutdown,
        done: Some(running.done),
    }
}

impl TestApp {
    /// Stops the server, keeping its database, and starts a new one on it with the same configuration (on another
    /// port).
    pub async fn restart(mut self) -> TestApp {
        self.shutdown.cancel();
        if let Some(done) = self.done.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(30), done).await;
            assert!(stopped.is_ok(), "server did not stop within 30 s");
        }
        start(self.config.clone(), self.db_name.clone()).await
    }

    /// Stops the server and drops its database.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(done) = self.done.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(30), done).await;
            assert!(stopped.is_ok(), "server did not stop within 30 s");
        }
        drop_database(&self.db_name).await;
    }

    pub async fn add_user(&self, name: &str, role: Role) {
        Users::new(self.pool.clone())
            .create(
                &Username::parse(name).unwrap(),
                NewPassword::parse(PASSWORD).unwrap(),
                role,
            )
            .await
            .expect("create user");
    }

    /// A client that keeps cookies and does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Calls a server function the way the browser does (URL-encoded form POST).
    pub async fn call(
        &self,
        client: &reqwest::Client,
        name: &str,
        args: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/fn/{name}", self.base))
            .form(args)
            .send()
            .await
            .expect("request")
    }

    /// A client signed in as `name` (who must exist with [`PASSWORD`]).
    pub async fn signed_in(&self, name: &str) -> reqwest::Client {
        let client = self.client();
        let res = self
            .call(
                &client,
                "login",
                &[("username", name), ("password", PASSWORD)],
            )
            .await;
        assert!(
            res.status().is_success(),
            "sign-in as {name}: {}",
            res.status()
        );
        client
    }

    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }
}

/// Every stored sample of `source` as (metric, labels, value), latest per series.
pub async fn stored(app: &TestApp, source: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let rows: Vec<(String, String, f64)> = sqlx::query_as(
        "SELECT s.metric, s.labels::text, x.value FROM series s
         JOIN LATERAL (SELECT value FROM samples_in('-infinity', 'infinity') WHERE series_id = s.id ORDER BY ts DESC LIMIT 1) x ON true
         WHERE s.source = $1 ORDER BY 1, 2",
    )
    .bind(source)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(m, l, v)| (m, serde_json::from_str(&l).unwrap(), v))
        .collect()
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A real SMTP server (Python's aiosmtpd, installed by scripts/test into the interpreter named by TEST_PYTHON)
/// that appends every message it accepts to a file as a JSON line.
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    pub mailbox: std::path::PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SMTP_SERVER: &str = r#"
import json, sys, time
from aiosmtpd.controller import Controller
class Record:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.content.decode("utf8", "replace")}) + "\n")
        return "250 OK"
controller = Controller(Record(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

pub fn smtp_server() -> SmtpServer {
    use std::io::BufRead;
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = crate::cli::tempdir();
    let script = dir.join("smtp.py");
    std::fs::write(&script, SMTP_SERVER).unwrap();
    let mailbox = dir.join("mailbox.jsonl");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .arg(port.to_string())
        .arg(&mailbox)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("starting {python} (set TEST_PYTHON; scripts/test installs aiosmtpd): {e}")
        });
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "the SMTP server did not start: is aiosmtpd installed for {python}?"
    );
    SmtpServer {
        child,
        port,
        mailbox,
    }
}
