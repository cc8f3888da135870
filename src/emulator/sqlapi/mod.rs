//! The SQL API v2 face: `POST /api/v2/statements`, `GET /api/v2/statements/{h}`,
//! `POST /api/v2/statements/{h}/cancel`, with the headers, idempotent retries and
//! 200 / 202 / 422 answers of reference §3.
//!
//! Split by endpoint: [`submit`] (`POST /api/v2/statements`: run, resend, 202/408
//! faults; its body typed in [`body`]) and [`status`] (`GET …/{handle}` with
//! partitions, `POST …/cancel`); this module holds what they share: header and flag
//! checks, authentication, UUID checks of handles and request ids, and the answer for a
//! stored statement.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::Timestamp;

use super::auth::{AuthError, Authenticated};
use super::handle::Emulator;
use super::sql::SqlError;
use super::statements::{Outcome, StoredStatement};
use super::wire::{self, ResultView};

mod body;
mod status;
mod submit;

/// The SQL API routes.
pub fn router() -> Router<Emulator> {
    Router::new()
        .route("/api/v2/statements", post(submit::submit))
        .route("/api/v2/statements/{handle}", get(status::status))
        .route("/api/v2/statements/{handle}/cancel", post(status::cancel))
}

fn flag(value: Option<&str>, default: bool) -> Result<bool, ()> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(()),
    }
}

/// The client address, inserted by the emulator's accept loop.
fn peer_addr(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<SocketAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr)
}

fn bad_request(message: &'static str) -> Response {
    ApiError::bad_request(message).into_response()
}

/// The body Snowflake documents for a request it cannot read (reference §3.2).
const BAD_PAYLOAD: &str = "Incoming request does not contain a valid payload.";

/// A UUID written the way sqlapi.yaml's `format: uuid` reads one (hyphenated, either
/// case), lowercased as the emulator issues them; `None` for anything else. Statement
/// handles and `requestId`s go through this before they are looked up or echoed, so
/// the braced, URN and bare-hex spellings the `uuid` crate would also parse never
/// reach an answer.
fn canonical_uuid(raw: &str) -> Option<String> {
    let uuid = uuid::Uuid::try_parse(raw).ok()?;
    let hyphenated = uuid.hyphenated().to_string();
    hyphenated.eq_ignore_ascii_case(raw).then_some(hyphenated)
}

/// The `requestId` query parameter, when present, as a canonical UUID; `Err` with the
/// refusal when it is not one.
fn request_id_param(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    raw.map(|id| {
        canonical_uuid(id)
            .ok_or_else(|| ApiError::bad_request("The requestId parameter must be a UUID."))
    })
    .transpose()
}

/// A refusal before any statement runs: HTTP status plus Snowflake's `{code, message}`.
#[derive(Debug, Clone, Copy)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

impl ApiError {
    fn bad_request(message: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "390142",
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        wire::error(self.status, self.code, self.message)
    }
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Content-Type, Accept and User-Agent checks of the SQL API (reference §3.1), on every
/// endpoint: sqlapi.yaml declares `User-Agent` required on all three.
fn check_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(content_type) = header_str(headers, header::CONTENT_TYPE) {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "390142",
                message: "Unsupported media type: the SQL API accepts application/json only.",
            });
        }
    }
    match header_str(headers, header::ACCEPT) {
        Some(accept)
            if accept.split(',').any(|a| {
                let media = a.split(';').next().unwrap_or_default().trim();
                ["application/json", "*/*", "application/*"]
                    .iter()
                    .any(|m| media.eq_ignore_ascii_case(m))
            }) => {}
        _ => {
            return Err(ApiError::bad_request(
                "The Accept header must allow application/json.",
            ));
        }
    }
    if header_str(headers, header::USER_AGENT).is_none_or(|ua| ua.trim().is_empty()) {
        return Err(ApiError::bad_request("The User-Agent header is required."));
    }
    Ok(())
}

/// What every endpoint checks first: the headers, then the bearer and the network policy.
fn admit(
    emulator: &Emulator,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Authenticated, ApiError> {
    check_headers(headers)?;
    authenticate(emulator, headers, peer)
}

/// Authenticates the bearer token, then applies the network policy to the client
/// address (known when served by the emulator's own accept loop).
fn authenticate(
    emulator: &Emulator,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Authenticated, ApiError> {
    let refused = |e: AuthError| {
        tracing::info!(
            code = e.code,
            "SQL API request refused: authentication failed"
        );
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: e.code,
            message: e.message,
        }
    };
    let authenticated = emulator
        .authenticate_bearer(
            header_str(headers, header::AUTHORIZATION),
            header_str(headers, "x-snowflake-authorization-token-type"),
        )
        .map_err(refused)?;
    if let Some(peer) = peer {
        emulator
            .check_network_policy(&authenticated.user, peer.ip())
            .map_err(refused)?;
    }
    Ok(authenticated)
}

/// Whether `Accept-Encoding` lists gzip (or `*`) without refusing it with `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The answer for a stored statement; counts a poll when it is still running.
fn answer(stored: &mut StoredStatement, view: ResultView, now: Timestamp) -> Response {
    if let Some(pending) = stored.pending.as_mut() {
        if pending.still_running(now) {
            return (
                StatusCode::ACCEPTED,
                Json(wire::running(&stored.handle, stored.created_on)),
            )
                .into_response();
        }
        stored.pending = None;
    }
    let (handle, request_id, created_on) = (&stored.handle, &stored.request_id, stored.created_on);
    match &stored.outcome {
        Outcome::Success(result) => wire::success(result, handle, request_id, created_on, view),
        Outcome::Failure(error) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(wire::failure(error, handle, request_id, created_on)),
        )
            .into_response(),
        Outcome::Cancelled => {
            let error = SqlError {
                code: "000604",
                sql_state: "57014",
                message: "SQL execution canceled".into(),
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(wire::failure(&error, handle, request_id, created_on)),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            value.parse().expect("header value"),
        );
        accepts_gzip(&headers)
    }

    #[test]
    fn only_hyphenated_uuids_are_handles_or_request_ids() {
        let id = "01BAD80F-0000-4392-0000-3C790002F19E";
        assert_eq!(
            canonical_uuid(id).as_deref(),
            Some("01bad80f-0000-4392-0000-3c790002f19e")
        );
        for refused in [
            "null,null",
            "",
            "01bad80f000043920000-3c790002f19e",
            "01bad80f0000439200003c790002f19e",
            "{01bad80f-0000-4392-0000-3c790002f19e}",
            "urn:uuid:01bad80f-0000-4392-0000-3c790002f19e",
        ] {
            assert_eq!(canonical_uuid(refused), None, "{refused}");
        }
    }

    #[test]
    fn gzip_is_used_only_when_the_request_accepts_it() {
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("deflate, br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
