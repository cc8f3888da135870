use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use snowflake_token_operator::cli::parse_duration;
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
    /// Run the operator: reconcile connections, service users and tokens.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions (YAML) for `kubectl apply -f -`.
    Crd(CrdArgs),
    /// Obtain the refresh token of an OAuth SnowflakeToken: a person signs in to
    /// Snowflake in a browser once; the refresh token is stored in the token's
    /// refreshTokenSecretRef Secret, and the operator keeps the access token fresh from it.
    Authorize(AuthorizeArgs),
    /// Ask the operator for one rotation of a PAT token now (annotation
    /// snowflake-token-operator.io/rotate); with --wait, wait for the new value.
    Rotate(snowflake_token_operator::cli::rotate::RotateArgs),
    /// Revoke a leaked credential now: a PAT and all its rotated-out values are removed in
    /// Snowflake without a grace period and a fresh one is minted (unless --no-replace);
    /// an OAuth token's refresh token is deleted (a person authorizes again).
    Revoke(snowflake_token_operator::cli::rotate::RevokeArgs),
    /// Show the state of every SnowflakeConnection, SnowflakeServiceUser and SnowflakeToken
    /// in scope, most urgent first: Ready, expiry, next rotation, OAuth refresh-token
    /// expiry. Exits 0 when all are Ready and nothing expires within --warn-within, 1 when
    /// something needs attention, 2 when the cluster cannot be asked. Reads no Secret.
    Status(snowflake_token_operator::cli::status::StatusArgs),
    /// Try the whole product in one command, without a Snowflake account or a cluster: the
    /// bundled emulator, a local control plane, the operator and the examples, each
    /// credential proven by logging in, a rotation with both PATs valid; then everything
    /// is stopped.
    Demo(DemoArgs),
    /// Serve an in-memory Snowflake emulator (SQL API v2, driver login, OAuth; key-pair JWT, PAT and OAuth auth).
    Emulator(EmulatorArgs),
}

/// Options of `run`. Every flag can also be set with the environment variable shown.
#[derive(Args, Debug)]
struct RunArgs {
    /// Kubeconfig file; by default `KUBECONFIG`, `~/.kube/config` or, in a pod, the
    /// service account.
    #[arg(long, env = "SFTO_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces; the RBAC then needs a
    /// ClusterRole).
    #[arg(long, short = 'n', env = "SFTO_NAMESPACE")]
    namespace: Option<String>,
    /// Reconcile only resources (of all three kinds) matching this label selector, so a
    /// large fleet can be split across several deployments, e.g. `shard=a`.
    #[arg(long, short = 'l', env = "SFTO_SELECTOR")]
    selector: Option<String>,
    /// Address of `/metrics`.
    #[arg(long, default_value = "0.0.0.0:8080", env = "SFTO_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Address of `/healthz` and `/readyz` (may be the metrics address).
    #[arg(long, default_value = "0.0.0.0:8081", env = "SFTO_HEALTH_ADDR")]
    health_addr: SocketAddr,
    /// Log format; default `json` in a pod, `text` elsewhere.
    #[arg(long, value_enum, env = "SFTO_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Reconciles running at once per controller.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024), env = "SFTO_CONCURRENCY")]
    concurrency: u16,
    /// How often tokens and service users are compared with Snowflake to repair changes
    /// made there (SHOW USER PATS, DESC USER).
    #[arg(long, default_value = "1h", value_parser = parse_duration, env = "SFTO_DRIFT_INTERVAL")]
    drift_interval: Duration,
    /// How often connections re-read their key Secret and re-verify.
    #[arg(long, default_value = "5m", value_parser = parse_duration, env = "SFTO_CONNECTION_INTERVAL")]
    connection_interval: Duration,
    /// Snowflake requests in flight at once per connection.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256), env = "SFTO_SNOWFLAKE_MAX_IN_FLIGHT")]
    snowflake_max_in_flight: u16,
    /// Elect a leader on a Lease so that two replicas can run and only one reconciles.
    #[arg(long, env = "SFTO_LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the Lease (default: `POD_NAMESPACE`, else `--namespace`, else `default`).
    #[arg(long, env = "SFTO_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        default_value = "snowflake-token-operator",
        env = "SFTO_LEADER_ELECTION_NAME"
    )]
    leader_election_name: String,
    /// This replica's identity in the Lease and in events (default: `POD_NAME`, else the
    /// host name).
    #[arg(long, env = "SFTO_IDENTITY")]
    identity: Option<String>,
}

/// Options of `authorize`.
#[derive(Args, Debug)]
struct AuthorizeArgs {
    /// The OAuth SnowflakeToken.
    token: String,
    /// Its namespace (default: the kube context's namespace, else `default`).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Kubeconfig file; by default `KUBECONFIG` or `~/.kube/config`.
    #[arg(long, env = "SFTO_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The redirect URI registered on the security integration (OAUTH_REDIRECT_URI):
    /// this command listens there (a loopback http:// address).
    #[arg(long, default_value = "http://127.0.0.1:8765/callback")]
    redirect_uri: String,
    /// Do not listen or open a browser: print the URL, then read the URL the browser
    /// ends on from standard input (for a machine without a browser).
    #[arg(long)]
    no_browser: bool,
    /// Ask Snowflake for single-use refresh tokens (each refresh returns a new one).
    #[arg(long)]
    single_use: bool,
    /// How long to wait for the browser (or the pasted URL).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

/// Options of `demo`.
#[derive(Args, Debug)]
struct DemoArgs {
    /// Use this context of your kubeconfig instead of starting a local control plane
    /// (the demo installs the CRDs there, runs the operator on this machine, and deletes
    /// its namespace at the end).
    #[arg(long, value_name = "NAME")]
    kube_context: Option<String>,
    /// Leave everything running until Ctrl-C, and print the kubeconfig path and the
    /// emulator's URL to explore it with kubectl.
    #[arg(long)]
    keep: bool,
    /// The namespace of the demo's objects.
    #[arg(long, short = 'n', default_value = "snowflake-demo")]
    namespace: String,
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
    /// YAML seed of the account (users, keys, roles, network policies); see examples/emulator/account.yaml.
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

/// The file name kubectl finds a plugin by: `kubectl snowflake ...` runs `kubectl-snowflake`.
const KUBECTL_PLUGIN: &str = "kubectl-snowflake";

fn main() -> ExitCode {
    let cli = parse();
    match cli.command {
        Command::Run(args) => run_operator(*args),
        Command::Crd(args) => crd(&args),
        Command::Authorize(args) => authorize(args),
        Command::Emulator(args) => run_emulator(args),
        Command::Demo(args) => demo(args),
        Command::Rotate(args) => on_runtime(snowflake_token_operator::cli::rotate::rotate(args)),
        Command::Revoke(args) => on_runtime(snowflake_token_operator::cli::rotate::revoke(args)),
        Command::Status(args) => snowflake_token_operator::cli::status::run(args),
    }
}

/// The command line; invoked as `kubectl-snowflake` (a symlink or copy of this binary), the
/// usage and errors say `kubectl snowflake`.
fn parse() -> Cli {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let invoked = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if !invoked.starts_with(KUBECTL_PLUGIN) {
        return Cli::parse();
    }
    let matches = Cli::command()
        .name("kubectl snowflake")
        .bin_name("kubectl snowflake")
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Runs a command's future on a small runtime.
fn on_runtime(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            runtime.block_on(command)
        }
        Err(e) => {
            eprintln!("snowflake-token-operator: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

/// `demo`: see [`snowflake_token_operator::demo`].
fn demo(args: DemoArgs) -> ExitCode {
    use snowflake_token_operator::demo::{self, DemoOptions};
    let binary = match std::env::current_exe() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("snowflake-token-operator demo: cannot find this program's path: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("snowflake-token-operator demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = DemoOptions {
        kube_context: args.kube_context,
        keep: args.keep,
        namespace: args.namespace,
        binary,
    };
    match runtime.block_on(demo::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nsnowflake-token-operator demo: {e}");
            ExitCode::FAILURE
        }
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

fn run_operator(args: RunArgs) -> ExitCode {
    use snowflake_token_operator::controller::{Config, leader::LeaseConfig};
    use snowflake_token_operator::operator::{self, RunOptions};
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    init_tracing(args.log_format.unwrap_or(if in_cluster {
        LogFormat::Json
    } else {
        LogFormat::Text
    }));
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("snowflake-token-operator-{}", std::process::id()));
    let mut controller = Config {
        namespace: args.namespace.clone(),
        label_selector: args.selector.clone(),
        concurrency: args.concurrency,
        drift_interval: args.drift_interval,
        connection_interval: args.connection_interval,
        instance: identity.clone(),
        ..Config::default()
    };
    controller.snowflake.max_in_flight = usize::from(args.snowflake_max_in_flight);
    let lease = args.leader_elect.then(|| {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .or_else(|| args.namespace.clone())
            .unwrap_or_else(|| "default".into());
        LeaseConfig::new(
            namespace,
            args.leader_election_name.clone(),
            identity.clone(),
        )
    });
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
        let client = match operator::kube_client(args.kubeconfig.as_deref()).await {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            namespace = args.namespace.as_deref().unwrap_or("(all)"),
            selector = args.selector.as_deref().unwrap_or("(none)"),
            leader_election = args.leader_elect,
            %identity,
            "starting"
        );
        let options = RunOptions {
            controller,
            metrics_addr: args.metrics_addr,
            health_addr: args.health_addr,
            lease,
        };
        match operator::run(client, options).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "exiting");
                ExitCode::FAILURE
            }
        }
    })
}

/// `authorize`: the consent flow; messages on stderr, nothing secret printed.
fn authorize(args: AuthorizeArgs) -> ExitCode {
    use snowflake_token_operator::authorize::{self, Options};
    init_tracing(LogFormat::Text);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("snowflake-token-operator authorize: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match snowflake_token_operator::operator::kube_client(args.kubeconfig.as_deref()).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!("snowflake-token-operator authorize: {e}");
                return ExitCode::FAILURE;
            }
        };
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let options = Options {
            namespace: namespace.clone(),
            token: args.token.clone(),
            redirect_uri: args.redirect_uri.clone(),
            no_browser: args.no_browser,
            open_browser: !args.no_browser,
            single_use: args.single_use,
            timeout: args.timeout,
        };
        match authorize::authorize(client, &options, |line| eprintln!("{line}")).await {
            Ok(done) => {
                let who = done
                    .username
                    .map(|u| format!(" as {u}"))
                    .unwrap_or_default();
                let lives = done
                    .refresh_token_expires_in
                    .map(|s| format!("; it lives {} days", s / 86_400))
                    .unwrap_or_default();
                eprintln!(
                    "Authorized{who}: the refresh token is in Secret {} (key {}){lives}. The operator refreshes SnowflakeToken {namespace}/{} from it now.",
                    done.secret, done.key, args.token
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("snowflake-token-operator authorize: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// How log lines are written (to stderr).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
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
            _ = snowflake_token_operator::operator::shutdown_signal() => {
                tracing::info!("shutting down");
                running.shutdown().await;
                ExitCode::SUCCESS
            }
            _ = running.wait() => ExitCode::FAILURE,
        }
    })
}
