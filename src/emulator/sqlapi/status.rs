//! `GET /api/v2/statements/{handle}` (the answer, a further result partition, or 202
//! while running) and `POST /api/v2/statements/{handle}/cancel`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{
    ApiError, BAD_PAYLOAD, accepts_gzip, admit, answer, bad_request, canonical_uuid, flag,
    request_id_param,
};
use crate::emulator::auth::Authenticated;
use crate::emulator::faults::{FaultKind, InjectedFault};
use crate::emulator::handle::Emulator;
use crate::emulator::statements::Outcome;
use crate::emulator::wire::{self, ResultView};

/// The query parameters of a status poll besides `requestId`.
#[derive(Debug, Default, Deserialize)]
struct StatusQuery {
    partition: Option<String>,
    nullable: Option<String>,
}

/// The `requestId` both endpoints take (and check, though neither needs it).
#[derive(Debug, Default, Deserialize)]
struct RequestIdQuery {
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

/// The statement a request is about, once the request is admitted: the headers checked,
/// the bearer authenticated ([`admit`]), the handle and any `requestId` canonical UUIDs.
/// Both endpoints take it as an extractor, so a refusal is answered before they run.
pub(super) struct AdmittedHandle {
    authenticated: Authenticated,
    handle: String,
}

impl FromRequestParts<Emulator> for AdmittedHandle {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, emulator: &Emulator) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        let authenticated = admit(emulator, &parts.headers, peer)?;
        // A segment that is not even UTF-8 is no UUID either.
        let raw_handle = Path::<String>::from_request_parts(parts, emulator)
            .await
            .map(|Path(handle)| handle)
            .unwrap_or_default();
        let handle = statement_handle(&raw_handle)?;
        let query: RequestIdQuery = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map_err(|_| ApiError::bad_request(BAD_PAYLOAD))?;
        request_id_param(query.request_id.as_deref())?;
        Ok(Self {
            authenticated,
            handle,
        })
    }
}

pub(super) async fn status(
    State(emulator): State<Emulator>,
    AdmittedHandle {
        authenticated,
        handle,
    }: AdmittedHandle,
    fault: Option<Extension<InjectedFault>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(query) = serde_urlencoded::from_str::<StatusQuery>(query.as_deref().unwrap_or(""))
    else {
        return bad_request(BAD_PAYLOAD);
    };
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

pub(super) async fn cancel(
    State(emulator): State<Emulator>,
    AdmittedHandle {
        authenticated,
        handle,
    }: AdmittedHandle,
) -> Response {
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
