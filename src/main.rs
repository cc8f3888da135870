use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use snowflake_token_operator::emulator::{Emulator, EmulatorConfig, ServeOptions};

/// Kubernetes operator for Snowflake service users and tokens.
#[derive(Parser, Debug)]
#[command(name = "snowflake-token-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions (YAML) for `kubectl apply -f -`.
    Crd(CrdArgs),
    /// Serve an in-memory Snowflake emulator (SQL API v2, driver login, OAuth; key-pair JWT, PAT and OAuth auth).
    Emulator(EmulatorArgs),
}

/// Options of `crd`.
#[derive(Args, Debug)]
struct CrdArgs {
    /// Write one file per CRD (`<plural>.<group>.yaml`) into this directory instead of
    /// printing a multi-document stream to stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Options of `emulator`.
#[derive(Args, Debug)]
struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8085", env = "SFEMU_LISTEN")]
    listen: SocketAddr,
    /// YAML seed of the account (users, keys, roles, network policies); see examples/emulator.yaml.
    #[arg(long, env = "SFEMU_CONFIG")]
    config: PathBuf,
    /// Mount the test-only /_emulator/ endpoints (fault injection, clock, state).
    /// Never enable on an emulator others can reach.
    #[arg(long)]
    enable_test_endpoints: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SFEMU_LOG_FORMAT")]
    log_format: LogFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd(args) => crd(&args),
        Command::Emulator(args) => run_emulator(args),
    }
}

/// `crd`: prints the CRDs, or writes them into `--dir`.
fn crd(args: &CrdArgs) -> ExitCode {
    use snowflake_token_operator::api::{crd_yaml, crds};
    use std::io::Write as _;
    let result = match &args.dir {
        Some(dir) => crd_yaml::write_dir(&crds(), dir)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => crd_yaml::all_to_yaml(&crds())
            .map_err(|e| e.to_string())
            .and_then(|yaml| {
                // A closed pipe (`| head`) is an error to report, not a panic.
                std::io::stdout()
                    .write_all(yaml.as_bytes())
                    .map_err(|e| format!("cannot write to stdout: {e}"))
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("snowflake-token-operator crd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// How log lines are written (to stderr).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
enum LogFormat {
    /// Human-readable lines; coloured only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logs to stderr at the level `RUST_LOG` sets (default `info`).
fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn run_emulator(args: EmulatorArgs) -> ExitCode {
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = match EmulatorConfig::from_file(&args.config) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "cannot load the emulator config");
                return ExitCode::FAILURE;
            }
        };
        let options = ServeOptions {
            listen: args.listen,
            test_endpoints: args.enable_test_endpoints,
        };
        let mut running = match Emulator::start(config, options).await {
            Ok(running) => running,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the emulator");
                return ExitCode::FAILURE;
            }
        };
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                running.shutdown().await;
                ExitCode::SUCCESS
            }
            _ = running.wait() => ExitCode::FAILURE,
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
