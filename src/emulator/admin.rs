//! Test-only endpoints under `/_emulator/`: queue faults, move the clock, read the
//! state (names, hashes, timestamps; never secrets) and the request log, and set a
//! private OIDC issuer's keys. Mounted only
//! when the server is started with test endpoints enabled, so a demo emulator cannot
//! be reconfigured by whoever reaches it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::json;

use super::faults::FaultSpec;
use super::handle::Emulator;

/// The `/_emulator/` routes.
pub fn router() -> Router<Emulator> {
    Router::new()
        .route(
            "/_emulator/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_emulator/clock/advance", post(advance_clock))
        .route("/_emulator/state", get(state))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/stats", get(stats).delete(reset_peaks))
        .route("/_emulator/workload-identity/issuers", post(trust_issuer))
}

/// `{"issuer": "...", "jwks": {"keys": [...]}}`: the signing keys of a private OIDC issuer
/// (as the seed's `workloadIdentity.issuers` entries), for an issuer started after the
/// emulator, such as a test cluster's API server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustIssuer {
    issuer: String,
    jwks: jsonwebtoken::jwk::JwkSet,
}

async fn trust_issuer(State(emulator): State<Emulator>, Json(body): Json<TrustIssuer>) -> Response {
    tracing::info!(issuer = %body.issuer, keys = body.jwks.keys.len(), "test endpoint: issuer keys set");
    emulator.trust_issuer_keys(&body.issuer, body.jwks);
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(emulator): State<Emulator>) -> Response {
    let stats = emulator.stats().clone();
    Json(stats).into_response()
}

async fn reset_peaks(State(emulator): State<Emulator>) -> Response {
    emulator.stats().reset_peaks();
    StatusCode::NO_CONTENT.into_response()
}

async fn add_fault(State(emulator): State<Emulator>, Json(spec): Json<FaultSpec>) -> Response {
    tracing::info!(?spec, "test endpoint: fault queued");
    emulator.inject_fault(spec);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(emulator): State<Emulator>) -> Response {
    Json(json!({"faults": emulator.faults().pending()})).into_response()
}

async fn clear_faults(State(emulator): State<Emulator>) -> Response {
    emulator.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

/// `{"seconds": n}` and/or `{"millis": n}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: i64,
    #[serde(default)]
    millis: i64,
}

async fn advance_clock(State(emulator): State<Emulator>, Json(advance): Json<Advance>) -> Response {
    let by = SignedDuration::from_secs(advance.seconds)
        .checked_add(SignedDuration::from_millis(advance.millis));
    let Some(by) = by else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "duration overflow"})),
        )
            .into_response();
    };
    emulator.clock().advance(by);
    tracing::info!(offset = ?emulator.clock().offset(), "test endpoint: clock advanced");
    Json(json!({"now": emulator.clock().now()})).into_response()
}

/// The account state plus the OAuth server's codes and tokens (hashes and expiries only).
async fn state(State(emulator): State<Emulator>) -> Response {
    let mut body = serde_json::to_value(emulator.snapshot()).unwrap_or_default();
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "oauth".into(),
            serde_json::to_value(emulator.oauth_snapshot()).unwrap_or_default(),
        );
    }
    Json(body).into_response()
}

async fn requests(State(emulator): State<Emulator>) -> Response {
    Json(json!({"requests": emulator.request_log()})).into_response()
}
