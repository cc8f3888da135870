//! The driver endpoints that act on a session: close, heartbeat, renewal. The sessions
//! themselves are kept by [`SessionStore`](crate::emulator::sessions::SessionStore).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::json;

use super::wire::{self, BAD_PAYLOAD};
use crate::emulator::handle::Emulator;
use crate::emulator::secret::TokenSecret;
use crate::emulator::sessions::{MASTER_INVALID, SESSION_VALIDITY_SECS};

fn seconds_until(now: Timestamp, at: Timestamp) -> i64 {
    at.duration_since(now).as_secs().max(0)
}

/// `POST /session?delete=true`: closes the session (the connector ignores the answer).
pub async fn delete(
    State(emulator): State<Emulator>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let delete = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "delete" && v.eq_ignore_ascii_case("true"));
    if !delete {
        return wire::refusal(BAD_PAYLOAD.0, BAD_PAYLOAD.1);
    }
    let Some(token) = wire::session_token(&headers) else {
        return wire::no_session();
    };
    if emulator.driver_sessions().close(&token) {
        tracing::info!("driver session closed");
        wire::success(serde_json::Value::Null)
    } else {
        wire::no_session()
    }
}

/// `POST /session/heartbeat` and `POST /telemetry/send`: succeed for a live session and
/// change nothing. The emulator's sessions live their full validity, so a heartbeat keeps
/// nothing alive; client-side telemetry logs (sent when a login answer turns telemetry on,
/// which the emulator never does, or always by the 5.x connector at close) are dropped.
pub async fn acknowledge(State(emulator): State<Emulator>, headers: HeaderMap) -> Response {
    let now = emulator.clock().now();
    let Some(token) = wire::session_token(&headers) else {
        return wire::no_session();
    };
    match emulator.driver_sessions().lookup(&token, now) {
        Ok(_) => wire::success(serde_json::Value::Null),
        Err((code, message)) => wire::refusal(code, message),
    }
}

/// `POST /session/token-request`: `{"oldSessionToken", "requestType": "RENEW"}` with the
/// master token in `Authorization`.
pub async fn renew(State(emulator): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let now = emulator.clock().now();
    let Some(master) = wire::session_token(&headers) else {
        return wire::refusal(MASTER_INVALID.0, MASTER_INVALID.1);
    };
    let request = wire::json_body(&headers, &body);
    let old = request
        .as_ref()
        .filter(|r| r["requestType"].as_str() == Some("RENEW"))
        .and_then(|r| r["oldSessionToken"].as_str())
        .map(TokenSecret::from_presented);
    let Some(old) = old else {
        return wire::refusal(BAD_PAYLOAD.0, BAD_PAYLOAD.1);
    };
    match emulator.driver_sessions().renew(&master, &old, now) {
        Ok((token, session)) => {
            tracing::info!(user = %session.principal.user, "driver session renewed");
            wire::success(json!({
                "sessionToken": token.expose(),
                "validityInSecondsST": SESSION_VALIDITY_SECS,
                "masterToken": master.expose(),
                "validityInSecondsMT": seconds_until(now, session.master_expires_at),
                "masterValidityInSeconds": seconds_until(now, session.master_expires_at),
                "sessionId": session.session_id,
            }))
        }
        Err((code, message)) => wire::refusal(code, message),
    }
}
