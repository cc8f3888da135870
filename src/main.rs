use clap::{Parser, Subcommand};

/// Kubernetes operator for Snowflake service users and tokens.
#[derive(Parser, Debug)]
#[command(name = "snowflake-token-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {}

fn main() {
    let _cli = Cli::parse();
}
