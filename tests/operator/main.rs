//! The operator on a real API server with the emulator: each test has its own namespace,
//! emulator and in-process operator (scoped to that namespace) on a clock shared with
//! the emulator, so that rotations due in days happen in seconds.

#[path = "../driver_support/mod.rs"]
mod driver_support;
#[path = "../emulator_support/mod.rs"]
mod emulator_support;
#[path = "../support/mod.rs"]
mod support;

mod api_faults;
mod cli;
mod connection;
mod consumers;
mod crash;
mod failures;
mod harness;
mod hygiene;
mod keypair;
mod oauth;
mod pat;
mod service_user;
mod snowflake_faults;
mod workload_identity;
