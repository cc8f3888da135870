use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
}

/// Options of `crd`.
#[derive(Args, Debug)]
struct CrdArgs {
    /// Write one file per CRD (`<plural>.<group>.yaml`) into this directory instead of
    /// printing a multi-document stream to stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd(args) => crd(&args),
    }
}

/// `crd`: prints the CRDs, or writes them into `--dir`.
fn crd(args: &CrdArgs) -> ExitCode {
    use snowflake_token_operator::api::{crds, render};
    use std::io::Write as _;
    let result = match &args.dir {
        Some(dir) => render::write_dir(&crds(), dir)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => render::all_to_yaml(&crds())
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
