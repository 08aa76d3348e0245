//! `mcpulse serve`: opens the database (applying migrations), starts collection, retention and session cleanup,
//! serves HTTP until SIGTERM/SIGINT, then drains in-flight requests (at most [`DRAIN_TIMEOUT`]), stops background
//! tasks and closes the database — stopping the private PostgreSQL when mcpulse runs one.

use crate::auth::Users;
use crate::clock::Clock;
use crate::collect::manage::SourceRegistry;
use crate::collect::{self_source::SelfSource, Collector, Schedule};
use crate::config::Config;
use crate::db::{self, ClusterOwnership, Database};
use crate::engine::EngineImpl;
use crate::http::router;
use crate::live::Hub;
use crate::state::AppState;
use crate::store::Store;
use crate::telemetry::{CountingListener, HttpTelemetry, PeerAddr};
use anyhow::Context;
use leptos::prelude::LeptosOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// In-flight requests get this long after a shutdown signal; the whole exit stays under 30 s.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How often closed hours are compacted.
const COMPACT_EVERY: Duration = Duration::from_secs(60);

/// A running server's handles, so tests can start one on a random port and stop it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub shutdown: CancellationToken,
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts everything and returns once the listener is bound.
pub async fn start(
    config: Config,
    database: Database,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let pool = database.pool.clone();
    db::migrate(&pool).await?;

    // The one clock everything that decides by time reads (see `clock`).
    let clock = Clock::system();
    let telemetry = Arc::new(HttpTelemetry::default());
    let store = Arc::new(
        Store::with_limits(
            pool.clone(),
            config.ingest.max_series_per_source,
            config.ingest.max_sources,
        )
        .with_out_of_order_window(config.storage.out_of_order_window)
        .with_minutes_outliving_samples(config.storage.policy().minutes_outlive_samples()),
    );
    let hub = Arc::new(Hub::default());
    let tokens = Arc::new(crate::auth::tokens::Tokens::new(pool.clone()));
    let tasks = CancellationToken::new();
    // Collection stops as soon as shutdown begins (no new rounds; writes under way finish), the rest after the
    // HTTP server has drained.
    let collection = tasks.child_token();
    {
        let (collection, shutdown) = (collection.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            collection.cancel();
        });
    }
    let collector = Collector::new(
        store.clone(),
        hub.clone(),
        collection.clone(),
        config.storage.retention,
        clock.clone(),
    );
    collector.add(
        Arc::new(SelfSource::new(telemetry.clone()).with_store(store.clone())),
        Schedule::every(config.collection.interval),
    )?;
    let mcp_telemetry = Arc::new(crate::mcp_server::McpTelemetry::default());
    collector.add(
        Arc::new(crate::mcp_server::McpTelemetrySource(mcp_telemetry.clone())),
        Schedule::every(config.collection.interval),
    )?;
    let sources = SourceRegistry::new(pool.clone(), collector.clone(), config.collection.interval);
    sources.start(&config.collection.sources).await?;
    let alerting = Arc::new(crate::alert::Alerting::from_config(
        pool.clone(),
        &config.alerts,
        config.collection.interval * 2,
        clock.clone(),
    )?);
    let reports = Arc::new(
        crate::report::Reports::new(
            pool.clone(),
            store.clone(),
            config.reports.smtp_url.clone(),
            config.server.public_url.clone(),
            crate::report::Retention {
                keep_last: config.reports.keep_last,
                keep_for: config.reports.keep_for,
                samples: config.storage.retention,
            },
        )
        .with_clock(clock.clone()),
    );
    let engine = Arc::new(EngineImpl {
        users: Users::new(pool.clone()).with_clock(clock.clone()),
        store: store.clone(),
        collector: collector.clone(),
        sources,
        tokens: tokens.clone(),
        alerting: alerting.clone(),
        hub: hub.clone(),
        reports: reports.clone(),
        clock: clock.clone(),
    });
    let state = AppState {
        leptos_options: leptos_options(),
        engine,
        store: store.clone(),
        hub: hub.clone(),
        telemetry: telemetry.clone(),
        pool: pool.clone(),
        shutdown: shutdown.clone(),
        secure_cookies: config.server.secure_cookies(),
        session_ttl: config.auth.session_ttl,
        tokens,
        retention: config.storage.retention,
        clock: clock.clone(),
        mcp: mcp_telemetry,
        request_timeout: config.server.request_timeout,
        mcp_settings: crate::mcp_server::McpSettings {
            allowed_hosts: config.mcp.allowed_hosts.clone(),
            allowed_origins: config.mcp.allowed_origins.clone(),
        },
    };

    // Compressed copies of the browser's files, if the build did not write them (see `assets`). On a plain thread,
    // not the runtime's blocking pool: shutdown never waits for it (copies are renamed into place whole).
    let pkg = crate::http::pkg_dir(&state.leptos_options);
    std::thread::spawn(move || match crate::assets::precompress(&pkg) {
        Ok(done) if done.written > 0 => {
            tracing::info!(files = done.written, dir = %pkg.display(), "wrote compressed copies of the site's files")
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, dir = %pkg.display(), "cannot write compressed copies of the site's files; they are sent uncompressed")
        }
    });

    let mut background = vec![
        spawn_retention(
            store.clone(),
            config.storage.policy(),
            clock.clone(),
            tasks.clone(),
        ),
        spawn_compaction(
            store.clone(),
            config.storage.hot_window,
            clock.clone(),
            tasks.clone(),
        ),
        spawn_rollups(store, tasks.clone()),
        spawn_session_cleanup(pool, tasks.clone()),
    ];
    alerting.sync_config_rules(&config.alerts.rules).await?;
    background.push(spawn_reload(
        alerting.clone(),
        config.file.clone(),
        tasks.clone(),
    ));
    if config.alerts.enabled {
        background.push(tokio::spawn(alerting.dispatcher.clone().run(tasks.clone())));
        background.push(spawn_alerting(
            alerting,
            hub.clone(),
            config.alerts.interval,
            tasks.clone(),
        ));
    }

    // Housekeeping always runs; due templates only with reports.enabled.
    background.push(tokio::spawn(
        reports.run_scheduler(tasks.clone(), config.reports.enabled),
    ));

    let listener = tokio::net::TcpListener::bind((config.server.bind, config.server.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{}",
                config.server.bind, config.server.port
            )
        })?;
    let addr = listener.local_addr()?;
    let app = router(state).into_make_service_with_connect_info::<PeerAddr>();
    let listener = CountingListener::new(listener, telemetry);

    let stop = shutdown.clone();
    let done = tokio::spawn(async move {
        let server =
            axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
        let drained = tokio::select! {
            result = server => { result.context("HTTP server failed")?; true }
            _ = async { stop.cancelled().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => false,
        };
        if !drained {
            tracing::warn!(timeout = ?DRAIN_TIMEOUT, "in-flight requests did not finish in time; exiting anyway");
        }
        tasks.cancel();
        collector.join().await;
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        database.close().await;
        tracing::info!("mcpulse stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        shutdown,
        done,
    })
}

/// `mcpulse serve`.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config, ClusterOwnership::Owner).await?;
    let shutdown = CancellationToken::new();
    let running = start(config, database, shutdown.clone()).await?;
    let url_host = if running.addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        running.addr.ip().to_string()
    };
    tracing::info!(
        "mcpulse listening on http://{url_host}:{}",
        running.addr.port()
    );
    wait_for_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    shutdown.cancel();
    running.done.await?
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop mcpulse");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// On SIGHUP, reads the configuration file again and applies its alert rules; a file with any problem changes
/// nothing (the current rules stay in effect) and the problems are logged.
fn spawn_reload(
    alerting: Arc<crate::alert::Alerting>,
    file: Option<std::path::PathBuf>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!(
                "cannot listen for SIGHUP; reload the rules of mcpulse.toml by restarting"
            );
            return;
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = hangups.recv() => {}
            }
            match crate::config::load(file.as_deref()) {
                Ok(config) => match alerting.sync_config_rules(&config.alerts.rules).await {
                    Ok(()) => tracing::info!("reloaded the alert rules of the configuration file"),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "applying the reloaded rules failed; the current rules stay")
                    }
                },
                Err(problems) => tracing::error!(
                    problems = %problems.0.join("; "),
                    "the configuration file has problems; the current rules stay in effect"
                ),
            }
        }
    })
}

fn spawn_alerting(
    alerting: Arc<crate::alert::Alerting>,
    hub: Arc<Hub>,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match alerting.evaluate(alerting.clock.now()).await {
                Ok(done) if done.transitions > 0 => alerting.publish(&hub).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "evaluating alert rules failed")
                }
            }
        }
    })
}

/// How often pending samples are folded into the rollup tiers (and pending latest values retried).
const ROLLUP_EVERY: Duration = Duration::from_secs(10);

fn spawn_rollups(store: Arc<Store>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(ROLLUP_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            // Latest values a failed update left pending are retried here too, not only by the next push.
            if let Err(e) = store.flush_latest().await {
                tracing::warn!(error = %format!("{e:#}"), "writing pending latest values failed");
            }
            if let Err(e) = store.roll_up().await {
                tracing::warn!(error = %format!("{e:#}"), "rolling up samples failed");
            }
        }
    })
}

/// Every minute, closed hours older than the hot window become chunks (and late rows join theirs).
fn spawn_compaction(
    store: Arc<Store>,
    hot: Duration,
    clock: Clock,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(COMPACT_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match store.compact(clock.now(), hot).await {
                Ok(done)
                    if done.samples > 0
                        || done.days > 0
                        || done.day_parts > 0
                        || done.partitions > 0
                        || done.minute_partitions > 0 =>
                {
                    tracing::info!(
                        hours = done.hours,
                        chunks = done.chunks,
                        samples = done.samples,
                        days = done.days,
                        day_parts = done.day_parts,
                        partitions_dropped = done.partitions,
                        minute_partitions_dropped = done.minute_partitions,
                        "compacted samples into chunks"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "compacting samples failed"),
            }
        }
    })
}

fn spawn_retention(
    store: Arc<Store>,
    retention: crate::store::Retention,
    clock: Clock,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Err(e) = store.apply_retention(clock.now(), &retention).await {
                tracing::warn!(error = %e, "retention failed");
            }
        }
    })
}

fn spawn_session_cleanup(
    pool: sqlx::PgPool,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use tower_sessions::session_store::ExpiredDeletion;
    tokio::spawn(async move {
        let store = crate::auth::sessions::PgSessions::new(pool);
        let mut ticks = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    })
}

/// Where the compiled site (`/pkg`, assets) is: `LEPTOS_SITE_ROOT`, else `site/` next to the binary's directory
/// (`target/site` for `target/release/mcpulse`), else `target/site`. A release build names every `/pkg` file by its
/// content and lists the names in `hash.txt` beside the binary (or in the site root, for a site moved with its
/// binary): when it is there, pages link the hashed names.
pub fn leptos_options() -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.join("site")))
                .filter(|p| p.join("pkg").is_dir())
                .unwrap_or_else(|| PathBuf::from("target/site"))
        });
    let hash_file = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("hash.txt")))
        .into_iter()
        .chain([site_root.join("hash.txt")])
        .find(|p| p.is_file());
    LeptosOptions::builder()
        .hash_files(hash_file.is_some())
        .hash_file(
            hash_file
                .map(|p| std::sync::Arc::from(p.to_string_lossy()))
                .unwrap_or_else(|| "hash.txt".into()),
        )
        .output_name(std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "mcpulse".into()))
        .site_root(site_root.to_string_lossy().to_string())
        .site_pkg_dir(std::env::var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|_| "pkg".into()))
        .build()
}
