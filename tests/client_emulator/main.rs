//! The Snowflake client against the in-process emulator: every operation and error path,
//! retries through injected faults, hostile text through both quoting implementations,
//! (logs free of secrets: `client_emulator_logs.rs`, alone in its process). Client and emulator were written independently from the
//! reference; these tests are where they must agree.

#[path = "../emulator_support/mod.rs"]
mod emulator_support;

mod errors;
mod ops;
mod partitions;
mod polling;
mod props;
mod resources;
mod retries;
mod session;
mod support;
