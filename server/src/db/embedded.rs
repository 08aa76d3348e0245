//! The zero-setup database: a private PostgreSQL cluster under `<data_dir>/postgres`, run with the PostgreSQL
//! binaries already installed on the machine. It listens on a Unix socket inside its own 0700 data directory only
//! (no TCP), so trust authentication reaches nobody but the owner. When mcpulse runs as root, postgres runs as the
//! unprivileged `postgres` (or `nobody`) user, because PostgreSQL refuses to run as root.
//!
//! A cluster found already running (left by a killed mcpulse, or started by another mcpulse command) is reused.
//! `mcpulse serve` stops the cluster when it exits; one-shot commands stop it only if they started it; neither stops
//! it while another process is still connected.

use anyhow::{bail, Context};
use nix::unistd::{Gid, Uid, User};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SUPERUSER: &str = "mcpulse";
pub const DATABASE: &str = "mcpulse";

/// A running private cluster.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    run_as: Option<(Uid, Gid, String)>,
    started_here: bool,
}

/// Socket paths are limited to 107 bytes; `.s.PGSQL.5432` takes 14 of them.
const MAX_SOCKET_DIR: usize = 90;

impl Cluster {
    /// Initialises the cluster if needed and makes sure it is running. Blocking: call from `spawn_blocking`.
    pub fn start(data_dir: &Path) -> anyhow::Result<Cluster> {
        let bin = find_bin_dir()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let dir = data_dir.join("postgres");
        if dir.as_os_str().len() > MAX_SOCKET_DIR {
            bail!(
                "the data directory path {} is too long for a PostgreSQL socket (at most {MAX_SOCKET_DIR} bytes); \
                 set MCPULSE_DATA_DIR to a shorter path",
                dir.display()
            );
        }
        let run_as = if Uid::effective().is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let mut cluster = Cluster {
            bin,
            dir,
            run_as,
            started_here: false,
        };

        if !cluster.dir.join("PG_VERSION").exists() {
            cluster.init()?;
        }
        if cluster.is_running()? {
            tracing::info!(dir = %cluster.dir.display(), "reusing the running private PostgreSQL");
            return Ok(cluster);
        }
        let log = cluster.dir.join("postgresql.log");
        let options = format!(
            "-c listen_addresses='' -k '{}' -c port=5432",
            cluster.dir.display()
        );
        let out = cluster.run(
            cluster
                .command("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(&cluster.dir)
                .args(["-w", "-t", "60", "-s"])
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(&options),
        )?;
        if !out.status.success() {
            // Another mcpulse process may have started it a moment ago.
            if cluster.is_running()? {
                return Ok(cluster);
            }
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            bail!(
                "could not start the private PostgreSQL in {}: {}\n{}",
                cluster.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        cluster.started_here = true;
        tracing::info!(dir = %cluster.dir.display(), "started the private PostgreSQL");
        Ok(cluster)
    }

    /// Whether this process started the cluster (rather than finding it running).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// How to reach the cluster's `mcpulse` database.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .port(5432)
            .username(SUPERUSER)
            .database(DATABASE)
    }

    /// Creates the `mcpulse` database on first use.
    pub async fn ensure_database(&self) -> anyhow::Result<()> {
        let mut conn = self
            .connect_options()
            .database("postgres")
            .connect()
            .await
            .context("connecting to the private PostgreSQL")?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            if let Err(e) = sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
            {
                // A concurrent start may have created it first.
                let created: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                )
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
                if !created {
                    return Err(e).context("creating the mcpulse database");
                }
            }
        }
        conn.close().await.ok();
        Ok(())
    }

    /// Stops the cluster unless another process is still connected to it.
    pub async fn stop(self) -> anyhow::Result<()> {
        // Backends of connections closed a moment ago may still be on their way out: look a few times.
        let others = async {
            let mut conn = self.connect_options().database("postgres").connect().await?;
            let mut n = 0;
            for _ in 0..10 {
                n = sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                )
                .fetch_one(&mut conn)
                .await?;
                if n == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            conn.close().await.ok();
            anyhow::Ok(n)
        }
        .await;
        match others {
            Ok(n) if n > 0 => {
                tracing::info!(
                    connections = n,
                    "leaving the private PostgreSQL running: other clients are connected"
                );
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not check for other PostgreSQL clients; stopping anyway")
            }
            Ok(_) => {}
        }
        tokio::task::spawn_blocking(move || {
            let out = self.run(
                self.command("pg_ctl")
                    .arg("stop")
                    .arg("-D")
                    .arg(&self.dir)
                    .args(["-m", "fast", "-w", "-t", "30", "-s"]),
            )?;
            if !out.status.success() && self.is_running()? {
                bail!(
                    "could not stop the private PostgreSQL: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            tracing::info!("stopped the private PostgreSQL");
            Ok(())
        })
        .await?
    }

    fn init(&self) -> anyhow::Result<()> {
        tracing::info!(dir = %self.dir.display(), "creating a private PostgreSQL cluster (first start)");
        std::fs::create_dir_all(&self.dir)?;
        if let Some((uid, gid, _)) = &self.run_as {
            nix::unistd::chown(&self.dir, Some(*uid), Some(*gid))
                .context("handing the cluster directory to postgres")?;
        }
        std::fs::set_permissions(
            &self.dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        let out = self.run(self.command("initdb").arg("-D").arg(&self.dir).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]))?;
        if !out.status.success() {
            let hint = match &self.run_as {
                Some((_, _, user)) => format!(
                    " (postgres runs as user `{user}`: every parent directory of {} must be searchable by it; \
                     set MCPULSE_DATA_DIR elsewhere, e.g. /var/lib/mcpulse, or set DATABASE_URL)",
                    self.dir.display()
                ),
                None => String::new(),
            };
            bail!(
                "initdb failed{hint}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        let out = self.run(
            self.command("pg_ctl")
                .arg("status")
                .arg("-D")
                .arg(&self.dir),
        )?;
        Ok(out.status.success())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C").current_dir(&self.dir);
        if let Some((uid, gid, _)) = &self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn run(&self, cmd: &mut Command) -> anyhow::Result<Output> {
        cmd.output()
            .with_context(|| format!("running {:?}", cmd.get_program()))
    }
}

/// Finds the directory holding `initdb` and `pg_ctl`: `pg_config --bindir`, then `PATH`, then the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_tools(&dir) {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_tools(&dir) {
                // Follow symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so pg_ctl finds its
                // sibling `postgres` binary.
                let real = dir
                    .join("initdb")
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                return Ok(real.filter(|d| has_tools(d)).unwrap_or(dir));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_str()?.parse::<u32>().ok()?,
                e.path().join("bin"),
            ))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    bail!(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl via `pg_config --bindir`, PATH and \
         /usr/lib/postgresql/*/bin).\n  Either install PostgreSQL — Debian/Ubuntu: `sudo apt-get install postgresql`; \
         Fedora: `sudo dnf install postgresql-server`; macOS: `brew install postgresql` —\n  or point mcpulse at an \
         existing server: DATABASE_URL=postgres://user:password@host:5432/mcpulse"
    )
}

fn unprivileged_user() -> anyhow::Result<(Uid, Gid, String)> {
    for name in ["postgres", "nobody"] {
        if let Some(user) = User::from_name(name)? {
            return Ok((user.uid, user.gid, name.to_string()));
        }
    }
    bail!("running as root, but neither a `postgres` nor a `nobody` user exists to run PostgreSQL as; set DATABASE_URL")
}
