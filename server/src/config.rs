//! Configuration: built-in defaults, overridden by `mcpulse.toml` (or `--config FILE`), overridden by the
//! environment (`MCPULSE_*`, plus the seed's names `COLLECTION_INTERVAL`, `RETENTION_PERIOD`, `DASHBOARD_PORT`,
//! `ALERTS_ENABLED` and the usual `DATABASE_URL`).
//!
//! Every key is declared once in [`KEYS`]; loading reads raw strings from the layers, then parses every key and reports
//! *all* problems at once, each naming the key and where its value came from. The README's configuration reference
//! is printed from the same table by `mcpulse config keys`.

use crate::collect::spec::duration_between;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The validated configuration: one part per component, each handed whole to the component it configures.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub ingest: IngestConfig,
    pub collection: CollectionConfig,
    pub storage: StorageConfig,
    pub alerts: AlertsConfig,
    pub auth: AuthConfig,
    pub reports: ReportsConfig,
    pub mcp: McpConfig,
    pub log: String,
    /// The file the configuration was read from, if any (read again on SIGHUP).
    pub file: Option<PathBuf>,
}

/// The HTTP server: where it listens, how users reach it, how long a request may take.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The validated configuration.
    pub bind: IpAddr,
    pub port: u16,
    /// The address users reach mcpulse at; `https://…` marks session cookies `Secure`.
    pub public_url: Option<url::Url>,
    /// A request (report downloads, `/mcp` streams and websockets excepted) is answered 503 after this long.
    pub request_timeout: Duration,
}

/// The PostgreSQL mcpulse stores everything in (its own private cluster when no URL is given).
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Option<String>,
    pub data_dir: PathBuf,
    pub max_connections: u32,
}

/// Limits of push ingest and OTLP.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Pushed sources (ids that push ingest and OTLP may create) before new ones are refused.
    pub max_sources: usize,
    /// Series a source may have before its new ones are refused.
    pub max_series_per_source: usize,
}

/// Built-in collection and the sources declared in `[[sources]]`.
#[derive(Debug, Clone)]
pub struct CollectionConfig {
    pub interval: Duration,
    /// Sources declared in `[[sources]]` tables of the config file.
    pub sources: Vec<SourceSpec>,
}

/// How long samples and rollups are kept.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub retention: Duration,
    pub rollup_1m_retention: Duration,
    pub rollup_1h_retention: Duration,
    /// Samples younger than this stay rows; older closed hours are compacted into chunks.
    pub hot_window: Duration,
    /// How far behind the compacted tier's watermark a late sample is still taken.
    pub out_of_order_window: Duration,
}

/// Sign-in sessions.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub session_ttl: Duration,
}

/// Report scheduling, retention and email.
#[derive(Debug, Clone)]
pub struct ReportsConfig {
    /// Run report templates on their schedules.
    pub enabled: bool,
    /// Generated reports kept per template (older ones are deleted).
    pub keep_last: i64,
    /// Generated reports older than this are deleted.
    pub keep_for: Duration,
    /// The SMTP server reports are emailed through (`smtp://user:password@host:port?from=…&tls=…`).
    pub smtp_url: Option<url::Url>,
}

/// mcpulse's own MCP endpoint `/mcp`.
#[derive(Debug, Clone)]
pub struct McpConfig {
    /// `Host` values `/mcp` answers (`*`: any); the public URL's host is always added.
    pub allowed_hosts: Vec<String>,
    /// Browser origins `/mcp` accepts (requests without `Origin` always pass).
    pub allowed_origins: Vec<String>,
}

pub use crate::alert::config::AlertsConfig;
pub use crate::collect::spec::{SourceKind, SourceSpec};

/// `a, b,,c` → `["a", "b", "c"]`.
fn comma_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

/// The fields a `[[rules]]` table may have.
const RULE_FIELDS: &[&str] = &[
    "name",
    "description",
    "metric",
    "sources",
    "matchers",
    "reduce",
    "window",
    "condition",
    "threshold",
    "for",
    "keep_firing_for",
    "severity",
    "enabled",
    "labels",
    "annotations",
    "no_data",
];

/// Checks one `[[rules]]` entry through the same parser as rules made in the UI, pushing every problem found.
fn rule_draft(
    index: usize,
    value: toml::Value,
    problems: &mut Vec<String>,
) -> Option<app::types::RuleDraft> {
    let toml::Value::Table(mut table) = value else {
        problems.push(format!("rules[{index}]: expected a table"));
        return None;
    };
    if let Some(bad) = table.keys().find(|k| !RULE_FIELDS.contains(&k.as_str())) {
        problems.push(format!(
            "rules[{index}]: unknown field `{bad}` (expected one of {})",
            RULE_FIELDS.join(", ")
        ));
        return None;
    }
    // A threshold may be written as a number.
    if let Some(t) = table.get_mut("threshold") {
        if !t.is_str() {
            *t = toml::Value::String(t.to_string());
        }
    }
    let draft: app::types::RuleDraft = match toml::Value::Table(table).try_into() {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!("rules[{index}]: {}", e.message()));
            return None;
        }
    };
    match crate::alert::rule::Rule::parse(&draft) {
        Ok(_) => Some(draft),
        Err(e @ app::error::AppError::Invalid { .. }) => {
            for p in e.problems() {
                problems.push(format!("rules[{index}].{}: {}", p.field, p.message));
            }
            None
        }
        Err(e) => {
            problems.push(format!("rules[{index}]: {e}"));
            None
        }
    }
}

/// Checks one `[[sources]]` entry (a [`SourceDefinition`](app::types::SourceDefinition): unknown fields are
/// errors) through the same path as sources created at runtime, pushing every problem found; `None` when it is
/// unusable.
fn source_spec(
    index: usize,
    value: toml::Value,
    default_interval: Duration,
    problems: &mut Vec<String>,
) -> Option<SourceSpec> {
    let def: app::types::SourceDefinition = match value.try_into() {
        Ok(def) => def,
        Err(e) => {
            problems.push(format!("sources[{index}]: {}", e.message()));
            return None;
        }
    };
    SourceSpec::parse(&def, default_interval)
        .map_err(|found| {
            problems.extend(
                found
                    .into_iter()
                    .map(|p| format!("sources[{index}].{}: {}", p.field, p.message)),
            )
        })
        .ok()
}

impl StorageConfig {
    /// How long samples and each rollup tier are kept: a coarser tier never goes before a finer one.
    pub fn policy(&self) -> crate::store::Retention {
        let rollup_1m = self.rollup_1m_retention.max(self.retention);
        crate::store::Retention {
            samples: self.retention,
            rollup_1m,
            rollup_1h: self.rollup_1h_retention.max(rollup_1m),
        }
    }
}

impl ServerConfig {
    /// Whether session cookies are marked `Secure` (the public URL is `https://…`).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }
}

/// One configuration key.
pub struct Key {
    /// Dotted TOML path, e.g. `collection.interval`.
    pub path: &'static str,
    /// Environment variables, strongest first.
    pub env: &'static [&'static str],
    pub default: &'static str,
    pub doc: &'static str,
}

pub const KEYS: &[Key] = &[
    Key { path: "server.bind", env: &["MCPULSE_BIND"], default: "127.0.0.1", doc: "Address the UI/API listens on; `0.0.0.0` to serve other machines (e.g. in a container)." },
    Key { path: "server.port", env: &["MCPULSE_PORT", "DASHBOARD_PORT"], default: "8089", doc: "TCP port of the UI, the REST API, `/ws` and `/health`." },
    Key { path: "server.public_url", env: &["MCPULSE_PUBLIC_URL"], default: "", doc: "URL users reach mcpulse at. When it is `https://…`, session cookies are marked `Secure` (use behind a TLS proxy)." },
    Key { path: "database.url", env: &["MCPULSE_DATABASE_URL", "DATABASE_URL"], default: "", doc: "PostgreSQL URL (`postgres://user@host:5432/db`). Empty: mcpulse runs its own private PostgreSQL under `database.data_dir`." },
    Key { path: "database.data_dir", env: &["MCPULSE_DATA_DIR"], default: "./data", doc: "Where the zero-setup PostgreSQL cluster lives (`<data_dir>/postgres`)." },
    Key { path: "database.max_connections", env: &["MCPULSE_DATABASE_MAX_CONNECTIONS"], default: "10", doc: "Size of the connection pool." },
    Key { path: "ingest.max_sources", env: &["MCPULSE_INGEST_MAX_SOURCES"], default: "1000", doc: "Sources that push ingest and OTLP may create (`?source=`, token names); a push that would create one more is refused with 429 and nothing of it is stored." },
    Key { path: "ingest.max_series_per_source", env: &["MCPULSE_INGEST_MAX_SERIES_PER_SOURCE"], default: "10000", doc: "Series one source may have; samples of its new series beyond that are dropped and counted (`mcpulse_samples_rejected_total` in `/metrics`)." },
    Key { path: "server.request_timeout", env: &["MCPULSE_REQUEST_TIMEOUT"], default: "60s", doc: "A request still unanswered after this long gets 503 and its work is abandoned (nothing half-stored); report downloads, `/mcp` streams and `/ws` are exempt (1s–1h)." },
    Key { path: "collection.interval", env: &["MCPULSE_COLLECTION_INTERVAL", "COLLECTION_INTERVAL"], default: "10s", doc: "How often built-in sources are collected (1s–1h)." },
    Key { path: "storage.retention", env: &["MCPULSE_RETENTION", "RETENTION_PERIOD"], default: "7d", doc: "How long samples are kept (at least 1h). Whole days of data are dropped at once." },
    Key { path: "storage.rollup_1m_retention", env: &["MCPULSE_ROLLUP_1M_RETENTION"], default: "0", doc: "How long per-minute rollups (min, max, sum, count, last per series) are kept; never less than `storage.retention` (`0`, the default: as long as the samples). Within the samples' retention minute steps are read from the compressed chunks and minute rows are kept only for the hot window; a longer minute retention keeps every minute row (about 20 bytes a sample, the chunks about 1)." },
    Key { path: "storage.hot_window", env: &["MCPULSE_HOT_WINDOW"], default: "2h", doc: "Samples younger than this stay rows (the hot tier); every closed hour older than it is compacted into one compressed chunk per series (about 1.3 bytes a sample). Between 1h and 7d." },
    Key { path: "storage.out_of_order_window", env: &["MCPULSE_OUT_OF_ORDER_WINDOW"], default: "1h", doc: "Late samples, older than the compacted tier's watermark, are still taken (and merged into their chunks) up to this far behind it; older ones are refused with an error naming this key. At most 7d." },
    Key { path: "storage.rollup_1h_retention", env: &["MCPULSE_ROLLUP_1H_RETENTION"], default: "400d", doc: "How long per-hour rollups are kept; never less than the minute rollups. Whole months are dropped at once." },
    Key { path: "alerts.enabled", env: &["MCPULSE_ALERTS_ENABLED", "ALERTS_ENABLED"], default: "true", doc: "Evaluate alert rules." },
    Key { path: "alerts.allowed_hosts", env: &["MCPULSE_ALERTS_ALLOWED_HOSTS"], default: "", doc: "Comma-separated hosts (names or addresses) that contact points may reach although they are loopback, private or link-local; all others are refused (SSRF protection)." },
    Key { path: "alerts.repeat_interval", env: &["MCPULSE_ALERTS_REPEAT_INTERVAL"], default: "4h", doc: "A firing alert that nobody acknowledged is notified again this often (1s–30d)." },
    Key { path: "alerts.group_by", env: &["MCPULSE_ALERTS_GROUP_BY"], default: "alertname", doc: "Comma-separated alert labels (`alertname`, `severity`, `source`, `metric`, series and rule labels); alerts with the same values go to a contact point in one notification." },
    Key { path: "alerts.group_wait", env: &["MCPULSE_ALERTS_GROUP_WAIT"], default: "5s", doc: "How long a new group waits for more alerts before its first notification (0s–1h)." },
    Key { path: "alerts.group_interval", env: &["MCPULSE_ALERTS_GROUP_INTERVAL"], default: "1m", doc: "How long after a group's notification the next one (new alerts, resolutions, repeats) may follow (0s–1d)." },
    Key { path: "alerts.send_timeout", env: &["MCPULSE_ALERTS_SEND_TIMEOUT"], default: "10s", doc: "How long a receiver (webhook, Slack, Logstash, SMTP) may take to answer before the notification is retried (1s–2m)." },
    Key { path: "alerts.interval", env: &["MCPULSE_ALERTS_INTERVAL"], default: "10s", doc: "How often every enabled alert rule is evaluated (1s–1h)." },
    Key { path: "auth.session_ttl", env: &["MCPULSE_SESSION_TTL"], default: "7d", doc: "A session expires after this long without a request." },
    Key { path: "reports.enabled", env: &["MCPULSE_REPORTS_ENABLED", "REPORTS_ENABLED"], default: "true", doc: "Run report templates on their cron schedules (generating on demand works either way)." },
    Key { path: "reports.keep_last", env: &["MCPULSE_REPORTS_KEEP_LAST"], default: "50", doc: "Generated reports kept per template (1–10000); older ones are deleted." },
    Key { path: "reports.keep_for", env: &["MCPULSE_REPORTS_KEEP_FOR"], default: "90d", doc: "Generated reports older than this are deleted (1h–10y)." },
    Key { path: "smtp.url", env: &["MCPULSE_SMTP_URL"], default: "", doc: "SMTP server reports are emailed through: `smtp://user:password@host:port?from=reports@example.com&tls=starttls` (`tls=tls` or `tls=none` otherwise; `smtps://` implies `tls`). Empty: templates cannot have recipients." },
    Key { path: "mcp.allowed_hosts", env: &["MCPULSE_MCP_ALLOWED_HOSTS"], default: "localhost,127.0.0.1,::1", doc: "Comma-separated `Host` names (or `host:port`) that mcpulse's MCP endpoint `/mcp` answers, against DNS rebinding; the host of `server.public_url` is added. In a container reached by another name, list it (or `*` for any)." },
    Key { path: "mcp.allowed_origins", env: &["MCPULSE_MCP_ALLOWED_ORIGINS"], default: "", doc: "Comma-separated browser origins (`https://agent.example.com:443`, `http://localhost:*`) allowed to call `/mcp` (they get CORS headers); requests from other origins are refused, requests without `Origin` (non-browser clients) pass." },
    Key { path: "log.level", env: &["MCPULSE_LOG"], default: "info", doc: "Log filter, e.g. `info` or `mcpulse=debug,tower_http=info` (`RUST_LOG` works too)." },
];

/// Environment variables with the `MCPULSE_` prefix that are not configuration keys but still known.
const OTHER_ENV: &[&str] = &["MCPULSE_CONFIG"];

/// Where a raw value came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
enum Origin {
    Default,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

/// Every problem found while loading, one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads the configuration from the process environment and the config file (`explicit`, else `$MCPULSE_CONFIG`,
/// else `./mcpulse.toml` if it exists).
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigErrors> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let file = explicit
        .map(Path::to_path_buf)
        .or_else(|| env.get("MCPULSE_CONFIG").map(PathBuf::from))
        .map(|p| (p, true))
        .unwrap_or_else(|| (PathBuf::from("mcpulse.toml"), false));
    let text = match std::fs::read_to_string(&file.0) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file.1 => None,
        Err(e) => {
            return Err(ConfigErrors(vec![format!(
                "cannot read config file {}: {e}",
                file.0.display()
            )]))
        }
    };
    from_sources(text.as_deref().map(|t| (file.0.as_path(), t)), &env)
}

/// Builds the configuration from an optional config file's text and an environment (testable without touching the
/// process).
pub fn from_sources(
    file: Option<(&Path, &str)>,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigErrors> {
    let mut problems = Vec::new();
    let mut raw: BTreeMap<&'static str, (String, Origin)> = KEYS
        .iter()
        .map(|k| (k.path, (k.default.to_string(), Origin::Default)))
        .collect();

    let mut source_tables: Option<(PathBuf, toml::Value)> = None;
    let mut rule_tables: Option<(PathBuf, toml::Value)> = None;
    if let Some((path, text)) = file {
        match text.parse::<toml::Table>() {
            Err(e) => problems.push(format!(
                "{}: not valid TOML: {}",
                path.display(),
                e.message()
            )),
            Ok(mut table) => {
                if let Some(sources) = table.remove("sources") {
                    source_tables = Some((path.to_path_buf(), sources));
                }
                if let Some(rules) = table.remove("rules") {
                    rule_tables = Some((path.to_path_buf(), rules));
                }
                for (dotted, value) in flatten(&table) {
                    let Some(key) = KEYS.iter().find(|k| k.path == dotted) else {
                        problems.push(format!(
                            "{}: unknown key `{dotted}`{}",
                            path.display(),
                            suggest(&dotted)
                        ));
                        continue;
                    };
                    match value {
                        Some(v) => {
                            raw.insert(key.path, (v, Origin::File(path.to_path_buf())));
                        }
                        None => problems.push(format!(
                            "{}: `{dotted}` must be a string, number or boolean",
                            path.display()
                        )),
                    }
                }
            }
        }
    }

    for (name, _) in env.iter().filter(|(n, _)| n.starts_with("MCPULSE_")) {
        if !OTHER_ENV.contains(&name.as_str())
            && !KEYS.iter().any(|k| k.env.contains(&name.as_str()))
        {
            problems.push(format!("unknown environment variable {name}"));
        }
    }
    for key in KEYS {
        // `env` lists the strongest name first, so the first one set wins.
        if let Some((name, value)) = key.env.iter().find_map(|n| env.get(*n).map(|v| (*n, v))) {
            raw.insert(key.path, (value.clone(), Origin::Env(name.to_string())));
        }
    }

    let mut p = Parser {
        raw: &raw,
        problems: &mut problems,
    };
    let bind = p
        .get("server.bind", |s| {
            s.parse::<IpAddr>()
                .map(Some)
                .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0".into())
        })
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port = p.get("server.port", |s| match s.parse::<u16>() {
        Ok(0) | Err(_) => Err("expected a port number between 1 and 65535".into()),
        Ok(port) => Ok(port),
    });
    let public_url = p.get("server.public_url", |s| {
        if s.is_empty() {
            return Ok(None);
        }
        let url = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "http" | "https" => Ok(Some(url)),
            other => Err(format!("scheme must be http or https, not `{other}`")),
        }
    });
    let database_url = p.get("database.url", |s| {
        if s.is_empty() {
            return Ok(None);
        }
        let url = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "postgres" | "postgresql" => Ok(Some(s.to_string())),
            other => Err(format!(
                "scheme must be postgres:// or postgresql://, not `{other}://`"
            )),
        }
    });
    let data_dir = p.get("database.data_dir", |s| {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(PathBuf::from(s))
        }
    });
    let max_connections = p.get("database.max_connections", |s| match s.parse::<u32>() {
        Ok(n @ 2..=1000) => Ok(n),
        _ => Err("expected a whole number between 2 and 1000".into()),
    });
    let ingest_max_sources = p.get("ingest.max_sources", |s| match s.parse::<usize>() {
        Ok(n @ 1..=1_000_000) => Ok(n),
        _ => Err("expected a whole number from 1 to 1000000".into()),
    });
    let ingest_max_series_per_source = p.get("ingest.max_series_per_source", |s| {
        match s.parse::<usize>() {
            Ok(n @ 1..=100_000_000) => Ok(n),
            _ => Err("expected a whole number from 1 to 100000000".into()),
        }
    });
    let request_timeout = p.get("server.request_timeout", |s| {
        duration_between(s, Duration::from_secs(1), Duration::from_secs(3600))
    });
    let collection_interval = p.get("collection.interval", |s| {
        duration_between(s, Duration::from_secs(1), Duration::from_secs(3600))
    });
    let retention = p.get("storage.retention", |s| {
        duration_between(
            s,
            Duration::from_secs(3600),
            Duration::from_secs(100 * 365 * 86400),
        )
    });
    let rollup_1m_retention = p.get("storage.rollup_1m_retention", |s| {
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        duration_between(
            s,
            Duration::from_secs(3600),
            Duration::from_secs(100 * 365 * 86400),
        )
    });
    let rollup_1h_retention = p.get("storage.rollup_1h_retention", |s| {
        duration_between(
            s,
            Duration::from_secs(3600),
            Duration::from_secs(100 * 365 * 86400),
        )
    });
    let hot_window = p.get("storage.hot_window", |s| {
        duration_between(s, Duration::from_secs(3600), Duration::from_secs(7 * 86400))
    });
    let out_of_order_window = p.get("storage.out_of_order_window", |s| {
        duration_between(s, Duration::ZERO, Duration::from_secs(7 * 86400))
    });
    let alerts_enabled = p.get("alerts.enabled", |s| {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("expected true or false".into()),
        }
    });
    let alerts_allowed_hosts = p.get("alerts.allowed_hosts", |s| Ok(comma_list(s)));
    let alerts_repeat_interval = p.get("alerts.repeat_interval", |s| {
        duration_between(s, Duration::from_secs(1), Duration::from_secs(30 * 86400))
    });
    let alerts_group_by = p.get("alerts.group_by", |s| {
        comma_list(s)
            .iter()
            .map(|n| {
                crate::names::LabelName::parse(n).map_err(|_| format!("`{n}` is not a label name"))
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let alerts_group_wait = p.get("alerts.group_wait", |s| {
        duration_between(s, Duration::ZERO, Duration::from_secs(3600))
    });
    let alerts_group_interval = p.get("alerts.group_interval", |s| {
        duration_between(s, Duration::ZERO, Duration::from_secs(86400))
    });
    let alerts_send_timeout = p.get("alerts.send_timeout", |s| {
        duration_between(s, Duration::from_secs(1), Duration::from_secs(120))
    });
    let alerts_interval = p.get("alerts.interval", |s| {
        duration_between(s, Duration::from_secs(1), Duration::from_secs(3600))
    });
    let session_ttl = p.get("auth.session_ttl", |s| {
        duration_between(s, Duration::from_secs(5), Duration::from_secs(366 * 86400))
    });
    let reports_enabled = p.get("reports.enabled", |s| {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("expected true or false".into()),
        }
    });
    let reports_keep_last = p.get("reports.keep_last", |s| match s.parse::<i64>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 1 to 10000".into()),
    });
    let reports_keep_for = p.get("reports.keep_for", |s| {
        duration_between(
            s,
            Duration::from_secs(3600),
            Duration::from_secs(3660 * 86400),
        )
    });
    let smtp_url = p.get("smtp.url", |s| {
        if s.is_empty() {
            return Ok(None);
        }
        let url = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        crate::alert::notify::Smtp::parse_server(&url)?;
        Ok(Some(url))
    });
    let mcp_allowed_hosts = p.get("mcp.allowed_hosts", |s| Ok(comma_list(s)));
    let mcp_allowed_origins = p.get("mcp.allowed_origins", |s| {
        let origins = comma_list(s);
        let is_origin = |o: &str| {
            o == "null"
                || url::Url::parse(o.strip_suffix(":*").unwrap_or(o)).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.has_host()
                        && u.path() == "/"
                        && !o.trim_end_matches(":*").ends_with('/')
                        && u.query().is_none()
                })
        };
        match origins.iter().find(|o| !is_origin(o)) {
            Some(bad) => Err(format!(
                "`{bad}` is not an origin such as https://example.com:443"
            )),
            None => Ok(origins),
        }
    });
    let log = p.get("log.level", |s| {
        tracing_subscriber::EnvFilter::try_new(s)
            .map(|_| s.to_string())
            .map_err(|e| format!("not a log filter: {e}"))
    });
    let sources = Vec::new();
    let rules = Vec::new();
    let file = file.map(|(path, _)| path.to_path_buf());
    let config = Config {
        server: ServerConfig {
            bind,
            port,
            public_url,
            request_timeout,
        },
        database: DatabaseConfig {
            url: database_url,
            data_dir,
            max_connections,
        },
        ingest: IngestConfig {
            max_sources: ingest_max_sources,
            max_series_per_source: ingest_max_series_per_source,
        },
        collection: CollectionConfig {
            interval: collection_interval,
            sources,
        },
        storage: StorageConfig {
            retention,
            rollup_1m_retention,
            rollup_1h_retention,
            hot_window,
            out_of_order_window,
        },
        alerts: AlertsConfig {
            enabled: alerts_enabled,
            interval: alerts_interval,
            repeat_interval: alerts_repeat_interval,
            group_by: alerts_group_by,
            group_wait: alerts_group_wait,
            group_interval: alerts_group_interval,
            send_timeout: alerts_send_timeout,
            allowed_hosts: alerts_allowed_hosts,
            rules,
        },
        auth: AuthConfig { session_ttl },
        reports: ReportsConfig {
            enabled: reports_enabled,
            keep_last: reports_keep_last,
            keep_for: reports_keep_for,
            smtp_url,
        },
        mcp: McpConfig {
            allowed_hosts: mcp_allowed_hosts,
            allowed_origins: mcp_allowed_origins,
        },
        log,
        file,
    };
    let mut config = config;
    if let Some(host) = config.server.public_url.as_ref().and_then(|u| u.host_str()) {
        if !config.mcp.allowed_hosts.iter().any(|h| h == host) {
            config.mcp.allowed_hosts.push(host.to_string());
        }
    }
    if let Some((path, value)) = rule_tables {
        match value {
            toml::Value::Array(entries) => {
                for (index, entry) in entries.into_iter().enumerate() {
                    if let Some(rule) = rule_draft(index, entry, &mut problems) {
                        if config
                            .alerts
                            .rules
                            .iter()
                            .any(|r| r.name.trim().eq_ignore_ascii_case(rule.name.trim()))
                        {
                            problems.push(format!(
                                "rules[{index}].name = {:?}: already used",
                                rule.name
                            ));
                        } else {
                            config.alerts.rules.push(rule);
                        }
                    }
                }
            }
            _ => problems.push(format!(
                "{}: `rules` must be a list of [[rules]] tables",
                path.display()
            )),
        }
    }
    if let Some((path, value)) = source_tables {
        match value {
            toml::Value::Array(entries) => {
                for (index, entry) in entries.into_iter().enumerate() {
                    if let Some(spec) =
                        source_spec(index, entry, config.collection.interval, &mut problems)
                    {
                        if config.collection.sources.iter().any(|s| s.id == spec.id)
                            || spec.id == "self"
                        {
                            problems
                                .push(format!("sources[{index}].id = {:?}: already used", spec.id));
                        } else {
                            config.collection.sources.push(spec);
                        }
                    }
                }
            }
            _ => problems.push(format!(
                "{}: `sources` must be a list of [[sources]] tables",
                path.display()
            )),
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(problems))
    }
}

struct Parser<'a> {
    raw: &'a BTreeMap<&'static str, (String, Origin)>,
    problems: &'a mut Vec<String>,
}

impl Parser<'_> {
    /// Parses one key; on failure records the problem and returns `T::default()` so every key still gets checked.
    fn get<T: Default>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let (value, origin) = &self.raw[key];
        match parse(value.trim()) {
            Ok(v) => v,
            Err(why) => {
                self.problems
                    .push(format!("{key} = {value:?} (from {origin}): {why}"));
                T::default()
            }
        }
    }
}

/// `[a] b = 1` → `("a.b", Some("1"))`; arrays and deeper tables give `None`.
fn flatten(table: &toml::Table) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (section, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for (name, v) in inner {
                    out.push((format!("{section}.{name}"), scalar(v)));
                }
            }
            other => out.push((section.clone(), scalar(other))),
        }
    }
    out
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn suggest(dotted: &str) -> String {
    KEYS.iter()
        .map(|k| (strsim::levenshtein(k.path, dotted), k.path))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, path)| format!(" (did you mean `{path}`?)"))
        .unwrap_or_default()
}

/// The configuration reference as a Markdown table (for the README).
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "| key (`mcpulse.toml`) | environment | default | meaning |\n|---|---|---|---|\n",
    );
    for k in KEYS {
        let env: Vec<String> = k.env.iter().map(|e| format!("`{e}`")).collect();
        let default = if k.default.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{}`", k.default)
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.path,
            env.join(", "),
            default,
            k.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = from_sources(None, &env(&[])).expect("defaults are valid");
        assert_eq!(c.server.port, 8089);
        assert_eq!(c.collection.interval, Duration::from_secs(10));
        assert_eq!(c.storage.retention, Duration::from_secs(7 * 86400));
        assert!(c.database.url.is_none() && c.alerts.enabled && !c.server.secure_cookies());
    }

    #[test]
    fn environment_beats_file_beats_default_and_seed_aliases_work() {
        let file = "[server]\nport = 9000\n[collection]\ninterval = \"30s\"\n[storage]\nretention = \"2d\"\n";
        let c = from_sources(
            Some((Path::new("mcpulse.toml"), file)),
            &env(&[
                ("COLLECTION_INTERVAL", "5s"),
                ("RETENTION_PERIOD", "168h"),
                ("ALERTS_ENABLED", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.port, 9000, "file beats default");
        assert_eq!(
            c.collection.interval,
            Duration::from_secs(5),
            "env alias beats file"
        );
        assert_eq!(c.storage.retention, Duration::from_secs(168 * 3600));
        assert!(!c.alerts.enabled);
        let c = from_sources(
            None,
            &env(&[("DASHBOARD_PORT", "1"), ("MCPULSE_PORT", "2")]),
        )
        .unwrap();
        assert_eq!(c.server.port, 2, "the MCPULSE_ name beats the seed alias");
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_key_and_origin() {
        let file = "[server]\nprot = 1\n[collection]\ninterval = \"soon\"\n";
        let err = from_sources(
            Some((Path::new("mcpulse.toml"), file)),
            &env(&[
                ("MCPULSE_PORT", "70000"),
                ("DATABASE_URL", "mysql://x"),
                ("MCPULSE_RETENTON", "1d"),
                ("MCPULSE_PUBLIC_URL", "not a url"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "unknown key `server.prot` (did you mean `server.port`?)",
            "collection.interval = \"soon\" (from mcpulse.toml)",
            "server.port = \"70000\" (from environment variable MCPULSE_PORT)",
            "database.url",
            "unknown environment variable MCPULSE_RETENTON",
            "server.public_url",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert_eq!(err.0.len(), 6, "{text}");
    }

    #[test]
    fn durations_are_bounded() {
        for (value, ok) in [("1s", true), ("500ms", false), ("2h", false), ("10", false)] {
            let r = from_sources(None, &env(&[("COLLECTION_INTERVAL", value)]));
            assert_eq!(r.is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn rules_are_declared_in_tables_and_checked_like_rules_from_the_ui() {
        let file = "[[rules]]\nname = \"Down\"\nmetric = \"up\"\ncondition = \"<\"\nthreshold = 1\nfor = \"1m\"\n";
        let c = from_sources(Some((Path::new("mcpulse.toml"), file)), &env(&[])).unwrap();
        assert_eq!(c.alerts.rules.len(), 1);
        assert_eq!(c.alerts.rules[0].threshold, "1");
        let bad = "[[rules]]\nname = \"A\"\nmetric = \"up\"\nthreshold = \"x\"\n[[rules]]\nname = \"B\"\nmetric = \"up\"\nthreshold = 1\nwhen = 3\n";
        let err = from_sources(Some((Path::new("mcpulse.toml"), bad)), &env(&[])).unwrap_err();
        assert!(
            err.0.iter().any(|p| p.starts_with("rules[0].threshold")),
            "{err:?}"
        );
        assert!(
            err.0
                .iter()
                .any(|p| p.contains("rules[1]: unknown field `when`")),
            "{err:?}"
        );
    }

    #[test]
    fn sources_are_declared_in_tables_and_checked() {
        let file = r#"
[[sources]]
id = "gateway"
kind = "prometheus"
target = "http://10.0.0.5:9090/metrics"
interval = "30s"
timeout = "5s"
labels = { team = "platform" }

[[sources]]
id = "lazy"
kind = "prometheus"
target = "https://example.com/metrics"
enabled = false
"#;
        let c = from_sources(Some((Path::new("mcpulse.toml"), file)), &env(&[])).unwrap();
        assert_eq!(c.collection.sources.len(), 2);
        let g = &c.collection.sources[0];
        assert_eq!(
            (g.interval, g.timeout),
            (Duration::from_secs(30), Duration::from_secs(5))
        );
        assert_eq!(g.labels["team"], "platform");
        assert_eq!(
            c.collection.sources[1].interval,
            Duration::from_secs(10),
            "default interval"
        );
        assert!(!c.collection.sources[1].enabled);

        let bad = r#"
[[sources]]
id = "bad id"
kind = "snmp"
target = "x"
interval = "2h"

[[sources]]
id = "a"
kind = "prometheus"
target = "ftp://x/metrics"
tagret = "typo"

[[sources]]
id = "b"
kind = "prometheus"
target = "http://x/metrics"
interval = "10s"
timeout = "20s"
labels = { "__name__" = "x" }

[[sources]]
id = "ok"
kind = "prometheus"
target = "http://y/metrics"

[[sources]]
id = "ok"
kind = "prometheus"
target = "http://z/metrics"
"#;
        let err = from_sources(Some((Path::new("mcpulse.toml"), bad)), &env(&[]))
            .unwrap_err()
            .to_string();
        for needle in [
            "sources[0].id",
            "sources[0].kind",
            "sources[0].interval",
            "sources[1]: unknown field `tagret`",
            "sources[2].timeout",
            "sources[2].labels",
            "sources[4].id = \"ok\": already used",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let c = from_sources(
            None,
            &env(&[("MCPULSE_PUBLIC_URL", "https://mon.example.com")]),
        )
        .unwrap();
        assert!(c.server.secure_cookies());
    }
}
