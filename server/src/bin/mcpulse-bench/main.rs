//! `mcpulse-bench`: the benchmarks, a binary of their own so they stay out of the production library. Each prints
//! figures against a baseline measured in the same run (see `bench.rs` and README, "Performance"). They read the same
//! configuration as `mcpulse` (`--config`, `mcpulse.toml`, `MCPULSE_*`), and need `database.url` with the right to
//! create databases.

mod bench;
mod compare;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mcpulse-bench",
    version,
    about = "mcpulse's benchmarks: figures against a baseline in the same run"
)]
struct Cli {
    /// Configuration file (default: ./mcpulse.toml if present; also $MCPULSE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Push-ingest throughput and ack latency against raw COPY BINARY of the same rows.
    Ingest {
        #[arg(long, default_value_t = 100)]
        series: usize,
        #[arg(long, default_value_t = 200)]
        batches: usize,
        #[arg(long, default_value_t = 5000)]
        batch_size: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// GET /api/timeseries against the bare date_bin SQL on the same data.
    Query {
        #[arg(long, default_value_t = 100)]
        series: usize,
        #[arg(long, default_value_t = 10_000)]
        points: usize,
        #[arg(long, default_value_t = 1000)]
        buckets: usize,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Threshold evaluations per second and sample-to-notification latency.
    Alerts {
        #[arg(long, default_value_t = 100)]
        rules: usize,
        #[arg(long, default_value_t = 100)]
        series: usize,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Websocket fan-out: delivery latency of pushed samples to many signed-in live clients.
    Live {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        messages: usize,
        /// Milliseconds between pushes.
        #[arg(long, default_value_t = 100)]
        every_ms: u64,
    },
    /// Bytes per stored sample (heap + indexes) and resident memory per active series.
    Storage {
        #[arg(long, default_value_t = 10_000_000)]
        samples: usize,
        #[arg(long, default_value_t = 1000)]
        series: usize,
        #[arg(long, default_value_t = 100_000)]
        active_series: usize,
    },
    /// Time and peak memory to generate a report (HTML with a chart, JSON, CSV) over days of many series.
    Report {
        #[arg(long, default_value_t = 100)]
        series: usize,
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Seconds between samples.
        #[arg(long, default_value_t = 10)]
        interval: u32,
    },
    /// CPU and memory of probing many MCP servers (Streamable HTTP, each round ping + tools/list + one tools/call),
    /// against the same process idle.
    Probes {
        #[arg(long, default_value_t = 100)]
        servers: usize,
        /// Seconds between rounds of each probe.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        /// Seconds measured (after one warm-up interval), for the baseline and again with the probes.
        #[arg(long, default_value_t = 60)]
        duration: u64,
    },
    /// mcpulse beside VictoriaMetrics and Prometheus (Debian packages) on the same generated data: ingest rate,
    /// bytes per sample, three queries' p50/p95 and resident memory, with ratios to VictoriaMetrics.
    Compare {
        #[arg(long, default_value_t = 1100)]
        series: usize,
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        /// Points per series per push.
        #[arg(long, default_value_t = 60)]
        points: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Runs of each query.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Skip Prometheus (its blocks take promtool minutes to build).
        #[arg(long)]
        no_prometheus: bool,
        /// The mcpulse binary (default: the one beside this binary).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Keep mcpulse's scratch database (its name is printed), to profile queries on it afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// The MCP server `bench probes` probes (a child process, so its work is not counted).
    #[command(hide = true)]
    McpTarget {
        #[arg(long)]
        port: u16,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match mcpulse::config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("mcpulse-bench: {errors}");
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| format!("{},rmcp=error", config.log));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpulse-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, &config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcpulse-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: BenchCommand, config: &mcpulse::config::Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest {
            series,
            batches,
            batch_size,
            concurrency,
        } => {
            let b = bench::IngestBench {
                series,
                batches,
                batch_size,
                concurrency,
            };
            bench::ingest(config, b).await
        }
        BenchCommand::Query {
            series,
            points,
            buckets,
            runs,
        } => {
            let b = bench::QueryBench {
                series,
                points,
                buckets,
                runs,
            };
            bench::query(config, b).await
        }
        BenchCommand::Alerts {
            rules,
            series,
            rounds,
        } => {
            let b = bench::AlertBench {
                rules,
                series,
                rounds,
            };
            bench::alerts(config, b).await
        }
        BenchCommand::Live {
            clients,
            messages,
            every_ms,
        } => {
            let b = bench::LiveBench {
                clients,
                messages,
                every: std::time::Duration::from_millis(every_ms),
            };
            bench::live(config, b).await
        }
        BenchCommand::Storage {
            samples,
            series,
            active_series,
        } => {
            let b = bench::StorageBench {
                samples,
                series,
                active_series,
            };
            bench::storage(config, b).await
        }
        BenchCommand::Report {
            series,
            days,
            interval,
        } => {
            let b = bench::ReportBench {
                series,
                days,
                interval_secs: interval,
            };
            bench::report(config, b).await
        }
        BenchCommand::Probes {
            servers,
            interval,
            duration,
        } => {
            let b = bench::ProbeBench {
                servers,
                interval: std::time::Duration::from_secs(interval.max(1)),
                duration: std::time::Duration::from_secs(duration.max(1)),
            };
            bench::probes(config, b).await
        }
        BenchCommand::Compare {
            series,
            hours,
            interval,
            points,
            concurrency,
            runs,
            no_prometheus,
            binary,
            keep,
        } => {
            let b = compare::CompareBench {
                series,
                hours,
                interval_secs: interval,
                points,
                concurrency,
                runs,
                prometheus: !no_prometheus,
                binary,
                keep,
            };
            compare::compare(config, b).await
        }
        BenchCommand::McpTarget { port } => bench::mcp_target(port).await,
    }
}
