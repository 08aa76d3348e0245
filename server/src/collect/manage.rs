//! Which sources exist and where they are declared. Sources come from three places: built in (`self`),
//! `mcpulse.toml` (`[[sources]]`, read-only while mcpulse runs) and admins at runtime (server functions and
//! `/api/sources`, stored in the `sources` table). Every declaration goes through
//! [`SourceSpec::parse`](super::spec::SourceSpec::parse); the registry persists runtime ones, then starts, replaces or
//! stops their task in the [`Collector`]. Disabled sources are kept but not scheduled.

use super::spec::{Problem, SourceKind, SourceSpec};
use super::{collect_once, CollectContext, Collector};
use crate::names::SourceId;
use anyhow::Context;
use app::error::AppError;
use app::types::{SourceDefinition, SourceOrigin, SourceStatus, SourceTestResult};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many metric names a test round reports.
const TEST_METRIC_NAMES: usize = 10;
/// The least time a test of an MCP source is given: enough to start the server and open a session.
const MCP_TEST_TIMEOUT: Duration = Duration::from_secs(10);

struct Declared {
    spec: SourceSpec,
    origin: SourceOrigin,
}

pub struct SourceRegistry {
    pool: sqlx::PgPool,
    collector: Arc<Collector>,
    /// The interval of a definition that names none (`collection.interval`).
    default_interval: Duration,
    /// Declared sources (config and runtime) by id. Never held across `.await`.
    declared: Mutex<BTreeMap<String, Declared>>,
    /// Serialises changes, so the table, `declared` and the collector change together.
    changes: tokio::sync::Mutex<()>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    kind: String,
    target: String,
    interval_ms: i64,
    timeout_ms: i64,
    labels: String,
    enabled: bool,
    options: String,
}

/// The `options` column: the MCP parts of a definition.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Options {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    calls: Vec<app::types::ToolCallDefinition>,
}

impl Row {
    fn definition(&self) -> anyhow::Result<SourceDefinition> {
        let options: Options = serde_json::from_str(&self.options).context("options")?;
        Ok(SourceDefinition {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            target: self.target.clone(),
            interval: format!("{}ms", self.interval_ms),
            timeout: format!("{}ms", self.timeout_ms),
            labels: serde_json::from_str(&self.labels).context("labels")?,
            enabled: self.enabled,
            args: options.args,
            env: options.env,
            headers: options.headers,
            calls: options.calls,
        })
    }
}

impl SourceRegistry {
    pub fn new(
        pool: sqlx::PgPool,
        collector: Arc<Collector>,
        default_interval: Duration,
    ) -> Arc<Self> {
        Arc::new(SourceRegistry {
            pool,
            collector,
            default_interval,
            declared: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// Declares the sources of `mcpulse.toml`, then loads the stored runtime sources, and schedules the enabled
    /// ones. A stored source that no longer validates, or whose id the configuration now uses, is skipped (and
    /// logged), not dropped.
    pub async fn start(&self, config: &[SourceSpec]) -> anyhow::Result<()> {
        let _changing = self.changes.lock().await;
        for spec in config {
            self.declare(spec.clone(), SourceOrigin::Config)?;
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, kind, target, interval_ms, timeout_ms, labels::text AS labels, enabled,
                    options::text AS options
             FROM sources ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .context("loading sources")?;
        for row in rows {
            let spec = row
                .definition()
                .map_err(|e| format!("{e:#}"))
                .and_then(|def| {
                    SourceSpec::parse(&def, self.default_interval).map_err(|p| describe(&p))
                });
            match spec {
                Err(e) => {
                    tracing::warn!(source = %row.id, error = %e, "stored source is invalid; skipped")
                }
                Ok(spec) if self.taken(&spec.id) => tracing::warn!(
                    source = %spec.id,
                    "stored source has the id of a configured source; the configuration wins"
                ),
                Ok(spec) => self.declare(spec, SourceOrigin::Runtime)?,
            }
        }
        Ok(())
    }

    /// Every source with its health and declaration, ordered by id (disabled ones included).
    pub fn statuses(&self) -> Vec<SourceStatus> {
        let mut all = self.collector.statuses();
        let declared = lock(&self.declared);
        for status in &mut all {
            if let Some(d) = declared.get(&status.id) {
                status.origin = d.origin;
                status.definition = Some(d.spec.redacted_definition());
            }
        }
        for (id, d) in declared.iter().filter(|(_, d)| !d.spec.enabled) {
            let def = d.spec.redacted_definition();
            all.push(SourceStatus {
                id: id.clone(),
                name: d.spec.name.clone(),
                kind: def.kind.clone(),
                description: format!("{} (disabled)", def.target),
                interval_secs: d.spec.interval.as_secs_f64(),
                origin: d.origin,
                enabled: false,
                definition: Some(def),
                up: None,
                last_scrape: None,
                last_success: None,
                last_error: None,
                last_duration_ms: None,
                last_samples: 0,
            });
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Whether `id` names a declared source, enabled or not (pushes may not use those ids).
    pub fn is_declared(&self, id: &str) -> bool {
        lock(&self.declared).contains_key(id)
    }

    /// Creates a runtime source: checked, stored, then scheduled (when enabled).
    pub async fn create(
        &self,
        def: &SourceDefinition,
        created_by: &str,
    ) -> Result<SourceStatus, AppError> {
        let spec = self.parse(def)?;
        let stored = spec.definition();
        let _changing = self.changes.lock().await;
        if self.taken(&spec.id) {
            return Err(AppError::invalid(
                "id",
                format!("`{}` is already used by another source", spec.id),
            ));
        }
        sqlx::query(
            "INSERT INTO sources (id, name, kind, target, interval_ms, timeout_ms, labels, enabled, created_by, options)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb)",
        )
        .bind(spec.id.as_str())
        .bind(&spec.name)
        .bind(&stored.kind)
        .bind(&stored.target)
        .bind(millis(spec.interval))
        .bind(millis(spec.timeout))
        .bind(labels_json(&spec))
        .bind(spec.enabled)
        .bind(created_by)
        .bind(options_json(&stored))
        .execute(&self.pool)
        .await
        .map_err(AppError::internal)?;
        self.declare(spec.clone(), SourceOrigin::Runtime)
            .map_err(AppError::internal)?;
        tracing::info!(source = %spec.id, by = created_by, enabled = spec.enabled, "source created");
        self.status(&spec.id)
    }

    /// Replaces the definition of runtime source `id` (its id cannot change) and restarts its collection.
    pub async fn update(
        &self,
        id: &SourceId,
        def: &SourceDefinition,
        updated_by: &str,
    ) -> Result<SourceStatus, AppError> {
        let mut def = def.clone();
        if def.id.trim().is_empty() {
            def.id = id.to_string();
        } else if def.id.trim() != id.as_str() {
            return Err(AppError::invalid(
                "id",
                "a source's id cannot be changed; create a new source instead",
            ));
        }
        self.unredact(&mut def)?;
        let spec = self.parse(&def)?;
        let stored = spec.definition();
        let _changing = self.changes.lock().await;
        self.runtime_only(id)?;
        sqlx::query(
            "UPDATE sources SET name = $2, kind = $3, target = $4, interval_ms = $5, timeout_ms = $6,
                    labels = $7::jsonb, enabled = $8, options = $9::jsonb, updated_at = now()
             WHERE id = $1",
        )
        .bind(spec.id.as_str())
        .bind(&spec.name)
        .bind(&stored.kind)
        .bind(&stored.target)
        .bind(millis(spec.interval))
        .bind(millis(spec.timeout))
        .bind(labels_json(&spec))
        .bind(spec.enabled)
        .bind(options_json(&stored))
        .execute(&self.pool)
        .await
        .map_err(AppError::internal)?;
        if spec.enabled {
            let source = spec
                .build(Some(self.pool.clone()))
                .map_err(AppError::internal)?;
            self.collector
                .replace(id, source, spec.schedule())
                .await
                .map_err(AppError::internal)?;
        } else {
            self.collector.remove(id).await;
        }
        lock(&self.declared).insert(
            id.to_string(),
            Declared {
                spec: spec.clone(),
                origin: SourceOrigin::Runtime,
            },
        );
        tracing::info!(source = %id, by = updated_by, enabled = spec.enabled, "source updated");
        self.status(id)
    }

    /// Stops runtime source `id` and forgets its definition (its samples stay until retention drops them).
    pub async fn delete(&self, id: &SourceId, deleted_by: &str) -> Result<(), AppError> {
        let _changing = self.changes.lock().await;
        self.runtime_only(id)?;
        sqlx::query("DELETE FROM sources WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(AppError::internal)?;
        // A later source with this id is another server: it starts a history of its own.
        sqlx::query("DELETE FROM mcp_tool_schemas WHERE source = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(AppError::internal)?;
        self.collector.remove(id).await;
        lock(&self.declared).remove(id.as_str());
        tracing::info!(source = %id, by = deleted_by, "source deleted");
        Ok(())
    }

    /// Runs one collection round of `def` without storing anything. An empty id is allowed here (the form may not
    /// have one yet). A failed round is a successful answer carrying the error.
    pub async fn test(&self, def: &SourceDefinition) -> Result<SourceTestResult, AppError> {
        let mut def = def.clone();
        if def.id.trim().is_empty() {
            def.id = "test".into();
        }
        self.unredact(&mut def)?;
        let spec = self.parse(&def)?;
        let source = spec.build(None).map_err(AppError::internal)?;
        // A probe starts its MCP session once and keeps it, so only its first round pays for starting the server;
        // a test is always such a first round, and a server that takes longer to start than one interval is not
        // failing (a stdio server under load can take seconds).
        let timeout = match spec.kind {
            SourceKind::Mcp { .. } => spec.timeout.max(MCP_TEST_TIMEOUT),
            SourceKind::Prometheus { .. } => spec.timeout,
        };
        let ctx = CollectContext {
            now: self.collector.clock.now(),
            clock: self.collector.clock.clone(),
            timeout,
        };
        let started = std::time::Instant::now();
        let outcome = collect_once(source.as_ref(), &ctx).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(match outcome {
            Ok(snapshot) => {
                let mut metric_names: Vec<String> = Vec::new();
                for m in &snapshot.metrics {
                    if metric_names.len() == TEST_METRIC_NAMES {
                        break;
                    }
                    if !metric_names.contains(&m.name) {
                        metric_names.push(m.name.clone());
                    }
                }
                SourceTestResult {
                    ok: snapshot.error.is_none(),
                    samples: snapshot.metrics.len(),
                    duration_ms,
                    metric_names,
                    error: snapshot.error.or(snapshot.warning),
                }
            }
            Err(e) => SourceTestResult {
                ok: false,
                samples: 0,
                duration_ms,
                metric_names: Vec::new(),
                error: Some(e),
            },
        })
    }

    fn parse(&self, def: &SourceDefinition) -> Result<SourceSpec, AppError> {
        SourceSpec::parse(def, self.default_interval).map_err(|problems| {
            // Every field's problems at once (several of one field joined), in the order found.
            let mut all = app::error::Problems::new();
            let mut fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
            fields.dedup();
            for field in fields {
                let messages: Vec<&str> = problems
                    .iter()
                    .filter(|p| p.field == field)
                    .map(|p| p.message.as_str())
                    .collect();
                all.add(field, messages.join("; "));
            }
            all.finish().unwrap_err()
        })
    }

    /// Puts back the stored secrets a form sent as [`REDACTED`](app::types::REDACTED) (it was shown them so) —
    /// only to the same server: same kind, target and arguments. Otherwise, or for a name that has no stored value,
    /// the field is refused, so a secret never follows a changed target and a placeholder is never stored.
    fn unredact(&self, def: &mut SourceDefinition) -> Result<(), AppError> {
        let redacted = |m: &BTreeMap<String, String>| m.values().any(|v| v == app::types::REDACTED);
        if !redacted(&def.headers) && !redacted(&def.env) {
            return Ok(());
        }
        let stored = lock(&self.declared)
            .get(def.id.trim())
            .map(|d| d.spec.definition());
        let same_server = stored.as_ref().is_some_and(|s| {
            s.kind == def.kind.trim() && s.target == def.target.trim() && s.args == def.args
        });
        for (field, map, stored) in [
            (
                "headers",
                &mut def.headers,
                stored.as_ref().map(|s| &s.headers),
            ),
            ("env", &mut def.env, stored.as_ref().map(|s| &s.env)),
        ] {
            for (name, value) in map.iter_mut() {
                if value != app::types::REDACTED {
                    continue;
                }
                match stored.and_then(|s| s.get(name)) {
                    Some(secret) if same_server => value.clone_from(secret),
                    _ => {
                        return Err(AppError::invalid(
                            field,
                            format!(
                            "enter the value of `{name}` again (the target changed or it is new)"
                        ),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a new source may not take `id`: declared, or scheduled by mcpulse itself (`self`).
    fn taken(&self, id: &str) -> bool {
        self.is_declared(id) || self.collector.is_scheduled(id)
    }

    /// Refuses changes to anything but a runtime source.
    fn runtime_only(&self, id: &str) -> Result<(), AppError> {
        match lock(&self.declared).get(id).map(|d| d.origin) {
            Some(SourceOrigin::Runtime) => Ok(()),
            Some(_) => Err(AppError::Conflict(format!(
                "`{id}` is declared in mcpulse.toml; change it there"
            ))),
            None if self.collector.is_scheduled(id) => Err(AppError::Conflict(format!(
                "`{id}` is built into mcpulse and cannot be changed"
            ))),
            None => Err(AppError::NotFound),
        }
    }

    /// Records `spec` as declared and schedules it when enabled.
    fn declare(&self, spec: SourceSpec, origin: SourceOrigin) -> anyhow::Result<()> {
        if spec.enabled {
            self.collector
                .add(spec.build(Some(self.pool.clone()))?, spec.schedule())?;
        }
        lock(&self.declared).insert(spec.id.to_string(), Declared { spec, origin });
        Ok(())
    }

    fn status(&self, id: &str) -> Result<SourceStatus, AppError> {
        self.statuses()
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| AppError::internal(format!("source `{id}` has no status")))
    }
}

fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `options` column of `def` (its MCP parts).
fn options_json(def: &SourceDefinition) -> String {
    serde_json::to_string(&Options {
        args: def.args.clone(),
        env: def.env.clone(),
        headers: def.headers.clone(),
        calls: def.calls.clone(),
    })
    .unwrap_or_else(|_| "{}".into())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn labels_json(spec: &SourceSpec) -> String {
    serde_json::to_string(&spec.labels).unwrap_or_else(|_| "{}".into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
