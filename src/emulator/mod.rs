//! An in-memory Snowflake emulator, independent of the client (see DESIGN.md section 6).
//!
//! Three layers, each using only the ones below it:
//! - **Composition**: [`server`] merges the faces into one router, applies queued faults
//!   and runs the accept loop. Nothing imports it but the crate's entry points.
//! - **Faces**, one axum router each, never importing one another or [`server`]: the
//!   SQL API v2 ([`sqlapi`]), the driver protocol of the official connectors
//!   ([`driver`]), the OAuth authorization server ([`oauth_http`]) and the test-only
//!   `/_emulator/` endpoints ([`admin`]).
//! - **Core**, which knows no face: the shared [`Emulator`] handle (`handle.rs`) over the
//!   account [`state`], the SQL engine ([`sql`]), stored [`statements`],
//!   authentication ([`auth`], [`keys`], [`netpolicy`], [`principal`], [`secret`]), the
//!   OAuth model ([`oauth`], tied to the account by [`oauth_account`]), driver
//!   [`sessions`], injectable [`faults`], the [`clock`], the seed ([`config`]) and the
//!   SQL API's answer shapes (`wire`, also used for fault answers and the driver's
//!   column metadata).
//!
//! Adding a face:
//! - add a `Router<Emulator>` in [`server::faces`];
//! - authenticate with [`Emulator::authenticate_bearer`] (or plug an OAuth validator in
//!   with [`Emulator::set_oauth_validator`]), then [`Emulator::check_network_policy`] and
//!   [`Emulator::session_principal`];
//! - run SQL with [`Emulator::execute`] (or [`sql::execute`] on a locked
//!   [`AccountState`] via [`Emulator::with_state`]); time comes from [`Emulator::clock`];
//! - honour the faults the middleware leaves to handlers ([`faults::InjectedFault`]).
//!
//! Secrets: PAT secrets are generated here and shown once in the ADD/ROTATE result;
//! the state keeps SHA-256 hashes only, and `Debug`/logs never show a secret.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod driver;
pub mod faults;
mod handle;
pub mod keys;
pub mod netpolicy;
pub mod oauth;
pub mod oauth_account;
pub mod oauth_http;
pub mod principal;
pub mod secret;
pub mod server;
pub mod sessions;
pub mod sql;
pub mod sqlapi;
pub mod state;
pub mod statements;
pub mod stats;
mod wire;
pub mod workload_identity;

pub use clock::Clock;
pub use config::EmulatorConfig;
pub use faults::{FaultKind, FaultSpec};
pub use handle::Emulator;
pub use principal::{AuthMethod, Principal};
pub use server::{RunningEmulator, ServeError, ServeOptions};
pub use sql::{ResultSet, SqlError, execute};
pub use state::{AccountState, StateSnapshot};
