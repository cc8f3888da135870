//! The driver face: the REST protocol the official Snowflake connectors speak
//! (`docs/emulator-driver-protocol.md`, reference §7a). Login with a PAT (as password or
//! with the `PROGRAMMATIC_ACCESS_TOKEN` authenticator), an OAuth access token or a key-pair
//! JWT; queries through the emulator's SQL engine as the session's principal; session
//! renewal, heartbeat, telemetry and close.
//!
//! Every answer is HTTP 200 with `success: true|false`: the connectors retry most other
//! statuses and turn the rest into errors that carry no Snowflake code.

mod login;
mod query;
mod session;
mod wire;

use axum::Router;
use axum::routing::post;

use super::handle::Emulator;

/// The driver routes.
pub fn router() -> Router<Emulator> {
    Router::new()
        .route("/session/v1/login-request", post(login::login))
        .route("/queries/v1/query-request", post(query::query))
        .route("/session", post(session::delete))
        .route("/session/heartbeat", post(session::acknowledge))
        .route("/session/token-request", post(session::renew))
        .route("/telemetry/send", post(session::acknowledge))
}
