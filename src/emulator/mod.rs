//! An in-memory Snowflake emulator, independent of the client (see DESIGN.md section 6).
//!
//! Faces are separate axum routers merged by [`server`]: the SQL API v2
//! ([`sqlapi`]) and the test-only `/_emulator/` endpoints ([`admin`]). Every face runs
//! SQL through [`sql::execute`] as an authenticated [`Principal`].

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod faults;
mod handle;
pub mod keys;
pub mod netpolicy;
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
