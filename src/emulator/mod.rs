//! An in-memory Snowflake emulator, independent of the client (see DESIGN.md section 6).
//!
//! Faces are separate axum routers merged by [`server`]: the SQL API v2
//! ([`sqlapi`]), the driver protocol of the official connectors ([`driver`]), the OAuth
//! authorization server ([`oauth_http`] over the model in [`oauth`]) and the test-only
//! `/_emulator/` endpoints ([`admin`]). Every face runs
//! SQL through [`sql::execute`] as an authenticated [`Principal`].
//!
//! Extension points for more faces (OAuth, driver login):
//! - add a `Router<Emulator>` in [`server::faces`];
//! - authenticate with [`Emulator::authenticate_bearer`] (or plug an OAuth validator in
//!   with [`Emulator::set_oauth_validator`]), then [`Emulator::check_network_policy`] and
//!   [`Emulator::session_principal`];
//! - run SQL with [`Emulator::execute`] (or [`sql::execute`] on a locked
//!   [`AccountState`] via [`Emulator::with_state`]); time comes from [`Emulator::clock`].
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
pub mod oauth_http;
pub mod principal;
pub mod secret;
pub mod server;
pub mod sql;
pub mod sqlapi;
pub mod state;
pub mod statements;
mod wire;

pub use clock::Clock;
pub use config::EmulatorConfig;
pub use faults::{FaultKind, FaultSpec};
pub use handle::Emulator;
pub use principal::{AuthMethod, Principal};
pub use server::{RunningEmulator, ServeError, ServeOptions};
pub use sql::{ResultSet, SqlError, execute};
pub use state::{AccountState, StateSnapshot};
