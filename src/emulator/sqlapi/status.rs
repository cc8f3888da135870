//! `GET /api/v2/statements/{handle}` (the answer, a further result partition, or 202
//! while running) and `POST /api/v2/statements/{handle}/cancel`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{
    ApiError, BAD_PAYLOAD, accepts_gzip, answer, authenticate, bad_request, canonical_uuid,
    check_headers, flag, peer_addr, request_id_param,
};
use crate::emulator::faults::{FaultKind, InjectedFault};
use crate::emulator::handle::Emulator;
use crate::emulator::statements::Outcome;
use crate::emulator::wire::{self, ResultView};

#[derive(Debug, Default, Deserialize)]
struct StatusQuery {
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    partition: Option<String>,
    nullable: Option<String>,
}

pub(super) async fn status(
    State(emulator): State<Emulator>,
    fault: Option<Extension<InjectedFault>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(handle): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = check_headers(&headers) {
        return refusal.into_response();
    }
    let authenticated = match authenticate(&emulator, &headers, peer_addr(peer)) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let handle = match statement_handle(&handle) {
        Ok(handle) => handle,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(query) = serde_urlencoded::from_str::<StatusQuery>(query.as_deref().unwrap_or_default())
    else {
        return bad_request(BAD_PAYLOAD);
    };
    if let Err(refusal) = request_id_param(query.request_id.as_deref()) {
        return refusal.into_response();
    }
    let Ok(nullable) = flag(query.nullable.as_deref(), true) else {
        return bad_request(BAD_PAYLOAD);
    };
    let partition = match query
        .partition
        .as_deref()
        .map(|p| p.trim().parse::<usize>())
    {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return bad_request("The partition parameter must be a non-negative integer.");
        }
    };
    let now = emulator.clock().now();
    let throttled = matches!(
        fault,
        Some(Extension(InjectedFault(FaultKind::ThrottledPoll)))
    );
    let mut statements = emulator.statements();
    let view = ResultView {
        partition,
        gzip: statements.partitions().gzip && accepts_gzip(&headers),
        ..ResultView::first(statements.partitions(), nullable)
    };
    match statements.get_mut(&handle) {
        Some(stored) if stored.user == authenticated.user => {
            if throttled && stored.pending.is_some() {
                tracing::info!(handle = %handle, "fault: 429 on the poll of a running statement");
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(wire::running(&stored.handle, stored.created_on)),
                )
                    .into_response();
            }
            answer(stored, view, now)
        }
        _ => not_found(&handle),
    }
}

/// The `{statementHandle}` path segment as a canonical UUID.
///
/// A handle that is no UUID names no statement, but it cannot get the 422 "Statement <h>
/// not found" (`000709`, reference §3.2) that an unknown UUID gets: both the
/// QueryFailureStatus and the CancelStatus sqlapi.yaml gives the 422 require a
/// `statementHandle` of `format: uuid`, so the answer would either echo a non-UUID or
/// invent a handle. The closest documented shape is the 400 sqlapi.yaml declares for a
/// malformed request, with the `390142` body of reference §3.2's generic statuses.
fn statement_handle(raw: &str) -> Result<String, ApiError> {
    canonical_uuid(raw).ok_or_else(|| ApiError::bad_request("The statement handle must be a UUID."))
}

/// The 422 for a handle (a UUID) of no statement of this user.
fn not_found(handle: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(serde_json::json!({
            "code": "000709",
            "sqlState": "02000",
            "message": format!("Statement {handle} not found"),
            "statementHandle": handle,
        })),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct CancelQuery {
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

pub(super) async fn cancel(
    State(emulator): State<Emulator>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(handle): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = check_headers(&headers) {
        return refusal.into_response();
    }
    let authenticated = match authenticate(&emulator, &headers, peer_addr(peer)) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let handle = match statement_handle(&handle) {
        Ok(handle) => handle,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(query) = serde_urlencoded::from_str::<CancelQuery>(query.as_deref().unwrap_or_default())
    else {
        return bad_request(BAD_PAYLOAD);
    };
    if let Err(refusal) = request_id_param(query.request_id.as_deref()) {
        return refusal.into_response();
    }
    let mut statements = emulator.statements();
    match statements.get_mut(&handle) {
        Some(stored) if stored.user == authenticated.user => {
            // Only a still-running statement can be cancelled; a finished one keeps its result.
            if stored.pending.take().is_some() {
                stored.outcome = Outcome::Cancelled;
            }
            (StatusCode::OK, Json(wire::cancelled(&handle))).into_response()
        }
        _ => not_found(&handle),
    }
}
