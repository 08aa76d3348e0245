//! The `mcpulse` command line: `serve` (the default), `migrate`, `user add|passwd|list`, `token`, `report run|list`,
//! `config check|keys`, `precompress` (benchmarks are `mcpulse-bench`).

use crate::auth::{NewPassword, Username, Users};
use crate::config::{self, Config};
use crate::db::{self, ClusterOwnership, Database};
use app::types::Role;
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mcpulse",
    version,
    about = "Self-hosted monitoring for MCP applications"
)]
struct Cli {
    /// Configuration file (default: ./mcpulse.toml if present; also $MCPULSE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the UI, API and collection (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens (for push ingest).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Generate reports and list them.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Write brotli and gzip copies of the site's files (`/pkg`), as `serve` does at start: run after a build so
    /// the first visitor already gets them.
    Precompress,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Generate a report of a template now (stored like any other run), with a progress bar, and write its files.
    Run {
        /// The template's name or id.
        template: String,
        /// Start of the period: RFC 3339 or a date (default: the template's period ending now).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// End of the period: RFC 3339 or a date (the end of that day).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Formats to generate, comma-separated (default: the template's): html, json, csv.
        #[arg(long)]
        format: Option<String>,
        /// Directory the files are written to.
        #[arg(long, default_value = ".")]
        output: PathBuf,
    },
    /// List report templates with their schedules and latest runs.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        /// A name for the token; pushes with it land in the source of that name unless `?source=` says otherwise.
        name: String,
        /// Comma-separated scopes: ingest, read, write, mcp.
        #[arg(long, default_value = "ingest")]
        scopes: String,
        /// The role the token acts with on the REST API and /mcp (capped by its creator's): viewer, editor or admin.
        #[arg(long, default_value = "viewer")]
        role: app::types::Role,
        /// Lifetime such as 90d (default: never expires).
        #[arg(long, default_value = "")]
        expires_in: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is asked for, or read from stdin with --password-stdin.
    Add {
        username: String,
        #[arg(long, default_value = "viewer", value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (signs out all of its sessions).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values.
    Check,
    /// Print the configuration reference (Markdown).
    Keys,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Precompress) = &cli.command {
        let dir = crate::http::pkg_dir(&crate::serve::leptos_options());
        return match crate::assets::precompress(&dir) {
            Ok(done) => {
                println!(
                    "{}: {} file(s) compressed, {} up to date; {} KiB → {} KiB (brotli)",
                    dir.display(),
                    done.written,
                    done.kept,
                    done.bytes / 1024,
                    done.brotli_bytes / 1024
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mcpulse: compressing {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Config(ConfigCommand::Keys)) = &cli.command {
        print!("{}", config::reference_markdown());
        return ExitCode::SUCCESS;
    }
    let config = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("mcpulse: {errors}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpulse: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcpulse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| {
            // The MCP SDK logs every session's start, notification and end at info; the probe reports what matters in
            // the source's health. Only its errors show unless asked for (`log.level = "info,rmcp=info"`).
            if filter.contains("rmcp") {
                tracing_subscriber::EnvFilter::new(filter)
            } else {
                tracing_subscriber::EnvFilter::new(format!("{filter},rmcp=error"))
            }
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::serve::run(config).await,
        Command::Config(ConfigCommand::Check) => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Config(ConfigCommand::Keys) | Command::Precompress => Ok(()),
        Command::Migrate => {
            with_database(&config, |pool| async move {
                db::migrate(&pool).await?;
                println!("migrations applied");
                Ok(())
            })
            .await
        }
        Command::Report(cmd) => {
            let config = config.clone();
            with_database(&config.clone(), |pool| async move {
                report_command(cmd, &config, pool).await
            })
            .await
        }
        Command::Token(cmd) => {
            with_database(
                &config,
                |pool| async move { token_command(cmd, &pool).await },
            )
            .await
        }
        Command::User(cmd) => {
            with_database(
                &config,
                |pool| async move { user_command(cmd, &pool).await },
            )
            .await
        }
    }
}

/// Opens the database (migrated), runs `f`, and closes it again whatever `f` returned.
async fn with_database<F, Fut>(config: &Config, f: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let database = Database::open(config, ClusterOwnership::Guest).await?;
    let result = async {
        db::migrate(&database.pool).await?;
        f(database.pool.clone()).await
    }
    .await;
    database.close().await;
    result
}

async fn user_command(cmd: UserCommand, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let users = Users::new(pool.clone());
    match cmd {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let username = Username::parse(&username)?;
            let password = read_password(password_stdin, true)?;
            let (user, _) = users.create(&username, password, role).await?;
            println!("created {} ({})", user.username, user.role);
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin, true)?;
            if !users.set_password(&username, password).await? {
                anyhow::bail!("no user named `{username}`");
            }
            println!("password of {username} changed; its sessions are signed out");
        }
        UserCommand::List => {
            let list = users.list().await?;
            if list.is_empty() {
                println!("no users yet: create one with `mcpulse user add NAME --role admin`");
            }
            for (user, created) in list {
                println!(
                    "{:<32} {:<7} created {}",
                    user.username,
                    user.role,
                    created.format("%Y-%m-%d %H:%M UTC")
                );
            }
        }
    }
    Ok(())
}

async fn token_command(cmd: TokenCommand, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    use crate::auth::tokens::Tokens;
    let tokens = Tokens::new(pool.clone());
    match cmd {
        TokenCommand::Create {
            name,
            scopes,
            expires_in,
            role,
        } => {
            let request =
                app::types::TokenRequest::parse(&name, &scopes, &expires_in, role.as_str())?;
            let expires_at = match request.expires_in {
                None => None,
                Some(d) => Some(chrono::Utc::now() + chrono::Duration::from_std(d)?),
            };
            let (info, token) = tokens
                .create_with_role(
                    &request.name,
                    &request.scopes,
                    expires_at,
                    "cli",
                    request.role,
                )
                .await?;
            eprintln!(
                "created token {} ({}) with scopes {}; it is shown only now:",
                info.id,
                info.name,
                info.scopes.join(",")
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for t in tokens.list().await? {
                let state = if t.revoked {
                    "revoked".to_string()
                } else {
                    t.expires_at
                        .map(|e| format!("expires {}", e.format("%Y-%m-%d")))
                        .unwrap_or_else(|| "active".into())
                };
                let used = t
                    .last_used_at
                    .map(|u| u.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:>4}  {:<24} {:<12} {:<14} {:<18} last used {used}",
                    t.id,
                    t.name,
                    t.scopes.join(","),
                    t.prefix,
                    state
                );
            }
        }
        TokenCommand::Revoke { id } => {
            tokens.revoke(id).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<NewPassword> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        if confirm && rpassword::prompt_password("Repeat password: ")? != first {
            anyhow::bail!("the two passwords differ");
        }
        first
    };
    Ok(NewPassword::parse(&password)?)
}

async fn report_command(
    cmd: ReportCommand,
    config: &Config,
    pool: sqlx::PgPool,
) -> anyhow::Result<()> {
    use crate::report::{parse_day_or_time, Reports, Retention};
    let reports = Reports::new(
        pool.clone(),
        std::sync::Arc::new(crate::store::Store::new(pool)),
        config.reports.smtp_url.clone(),
        config.server.public_url.clone(),
        Retention {
            keep_last: config.reports.keep_last,
            keep_for: config.reports.keep_for,
            samples: config.storage.retention,
        },
    );
    match cmd {
        ReportCommand::List => {
            let templates = reports.templates().await?;
            if templates.is_empty() {
                println!("no report templates (create one on the Reports page or with POST /api/report-templates)");
            }
            for t in templates {
                let latest = reports
                    .reports(&app::types::ReportFilter {
                        template_id: Some(t.id),
                        limit: Some(1),
                        ..Default::default()
                    })
                    .await?;
                let schedule = if t.template.schedule.is_empty() {
                    "on demand".to_string()
                } else {
                    format!("{} ({})", t.template.schedule, t.template.timezone)
                };
                let last = latest
                    .first()
                    .map(|r| {
                        format!(
                            "last: {} {}",
                            r.status,
                            r.started_at.format("%Y-%m-%d %H:%M UTC")
                        )
                    })
                    .unwrap_or_else(|| "never run".into());
                println!(
                    "{:>4}  {:<30}  {:<28}  {}",
                    t.id, t.template.name, schedule, last
                );
            }
            Ok(())
        }
        ReportCommand::Run {
            template,
            from,
            to,
            format,
            output,
        } => {
            let range = match (from, to) {
                (Some(from), Some(to)) => {
                    let parse = |s: &str, end| {
                        parse_day_or_time(s, end)
                            .map_err(anyhow::Error::msg)?
                            .ok_or_else(|| anyhow::anyhow!("empty time"))
                    };
                    Some((parse(&from, false)?, parse(&to, true)?))
                }
                _ => None,
            };
            let info = reports
                .template_named(&template)
                .await
                .map_err(|e| match e {
                    app::error::AppError::NotFound => {
                        anyhow::anyhow!("no report template named `{template}`")
                    }
                    e => anyhow::anyhow!("{e}"),
                })?;
            // Everything that can be refused is checked before the run is recorded.
            let formats = match format {
                Some(list) => list
                    .split(',')
                    .map(|f| {
                        crate::report::template::Format::parse(f).ok_or_else(|| {
                            anyhow::anyhow!("--format `{f}`: expected html, json or csv")
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
                None => Vec::new(),
            };
            std::fs::create_dir_all(&output)
                .map_err(|e| anyhow::anyhow!("--output {}: {e}", output.display()))?;
            let prepared = reports
                .prepare(info.id, "cli", Some("cli"), range)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_formats(formats);
            let bar = indicatif::ProgressBar::new(prepared.sections() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {pos}/{len} sections",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(format!("generating “{}”", info.template.name));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            let started = std::time::Instant::now();
            let progress = {
                let bar = bar.clone();
                move |done: usize, _total: usize| bar.set_position(done as u64)
            };
            let report = reports.generate(prepared, &progress).await;
            bar.finish_and_clear();
            if report.status != "succeeded" {
                anyhow::bail!(
                    "report {} failed: {}",
                    report.id,
                    report.error.as_deref().unwrap_or("unknown error")
                );
            }
            println!(
                "report {} of “{}” ({} — {}) generated in {:.1} s",
                report.id,
                report.template_name,
                report.period_start.to_rfc3339(),
                report.period_end.to_rfc3339(),
                started.elapsed().as_secs_f64()
            );
            for (format, _) in &report.files {
                let Some(format) = crate::report::template::Format::parse(format) else {
                    continue;
                };
                let (bytes, name) = reports
                    .file(report.id, format)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let path = output.join(&name);
                std::fs::write(&path, &bytes)?;
                println!("  {} ({} bytes)", path.display(), bytes.len());
            }
            if let Some(email) = &report.email_status {
                println!("  email: {email}");
            }
            Ok(())
        }
    }
}
