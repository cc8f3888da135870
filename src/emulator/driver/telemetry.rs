//! `POST /telemetry/send`: the connector posts client-side logs when the login answer
//! turns telemetry on (the emulator never does, but a connector configured otherwise
//! must not fail). The logs are dropped; the answer is what the connector expects.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::wire;
use crate::emulator::handle::Emulator;

pub async fn send(State(emulator): State<Emulator>, headers: HeaderMap) -> Response {
    let now = emulator.clock().now();
    let Some(token) = wire::session_token(&headers) else {
        return wire::no_session();
    };
    match emulator.driver_sessions().lookup(&token, now) {
        Ok(_) => wire::success(serde_json::Value::Null),
        Err((code, message)) => wire::refusal(code, message),
    }
}
