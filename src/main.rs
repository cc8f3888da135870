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

fn crd(args: &CrdArgs) -> ExitCode {
    use snowflake_token_operator::api::{crds, render};
    let result = match &args.dir {
        Some(dir) => render::write_dir(&crds(), dir).map(|_| ()),
        None => render::all_to_yaml(&crds()).map(|yaml| print!("{yaml}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("snowflake-token-operator crd: {err}");
            ExitCode::FAILURE
        }
    }
}
