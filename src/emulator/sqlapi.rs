//! The SQL API v2 face: `POST /api/v2/statements`, `GET /api/v2/statements/{h}`,
//! `POST /api/v2/statements/{h}/cancel`, with the headers, idempotent retries and
//! 200 / 202 / 422 answers of reference §3.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::auth::{AuthError, Authenticated};
use super::faults::FaultKind;
use super::handle::Emulator;
use super::server::{ConnectionControl, InjectedFault};
use super::sql::SqlError;
use super::sql::ast::Statement;
use super::sql::exec::execute_statement;
use super::sql::parser::parse_request;
use super::statements::{Outcome, Pending, StoredStatement};
use super::wire::{self, ResultView};

/// The SQL API routes.
pub fn router() -> Router<Emulator> {
    Router::new()
        .route("/api/v2/statements", post(submit))
        .route("/api/v2/statements/{handle}", get(status))
        .route("/api/v2/statements/{handle}/cancel", post(cancel))
}

#[derive(Debug, Default, Deserialize)]
struct SubmitQuery {
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    #[serde(rename = "async")]
    run_async: Option<String>,
    retry: Option<String>,
    nullable: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct StatusQuery {
    partition: Option<String>,
    nullable: Option<String>,
}

/// The request body (all fields optional, as documented).
#[derive(Debug, Deserialize)]
struct StatementRequest {
    statement: Option<String>,
    #[serde(default)]
    role: Option<String>,
    /// Seconds; only echoed in the timeout fault's message, so any shape is accepted.
    #[serde(default)]
    timeout: Option<serde_json::Value>,
    #[serde(default)]
    parameters: Option<HashMap<String, serde_json::Value>>,
}

/// Snowflake's default `STATEMENT_TIMEOUT_IN_SECONDS` (two days), used when a request
/// carries no `timeout`.
const STATEMENT_TIMEOUT_IN_SECONDS: u64 = 172_800;

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

/// Content-Type, Accept and User-Agent checks of the SQL API.
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

/// `multi_statement_count`: `"0"` any number, `"N"` exactly N, absent 1.
fn desired_statement_count(
    parameters: Option<&HashMap<String, serde_json::Value>>,
) -> Option<usize> {
    let value = parameters.and_then(|p| p.get("multi_statement_count"));
    let count = match value {
        Some(serde_json::Value::String(s)) => s.trim().parse::<usize>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    };
    match count {
        Some(0) => None,
        Some(n) => Some(n),
        None => Some(1),
    }
}

/// Parses and runs the request's statement, returning the outcome and its log label.
fn run(
    emulator: &Emulator,
    authenticated: Authenticated,
    request: &StatementRequest,
    sql: &str,
    now: Timestamp,
) -> (Outcome, String) {
    let principal = match emulator.session_principal(authenticated, request.role.as_deref()) {
        Ok(principal) => principal,
        Err(e) => return (Outcome::Failure(e), "<session>".into()),
    };
    let statements = match parse_request(sql, desired_statement_count(request.parameters.as_ref()))
    {
        Ok(statements) => statements,
        Err(e) => return (Outcome::Failure(e), "<unparsed>".into()),
    };
    let [statement]: [Statement; 1] = match statements.try_into() {
        Ok(one) => one,
        Err(_) => {
            let error = SqlError {
                code: "000002",
                sql_state: "0A000",
                message: "Unsupported feature 'multi-statement request' in the Snowflake emulator."
                    .into(),
            };
            return (Outcome::Failure(error), "<multi-statement>".into());
        }
    };
    let label = statement.label().to_owned();
    let outcome = match execute_statement(&mut emulator.state(), &principal, &statement, now) {
        Ok(result) => Outcome::Success(result),
        Err(e) => Outcome::Failure(e),
    };
    tracing::info!(user = %principal.user, role = %principal.role, statement = %label, "statement executed");
    (outcome, label)
}

async fn submit(
    State(emulator): State<Emulator>,
    fault: Option<Extension<InjectedFault>>,
    connection: Option<Extension<ConnectionControl>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = check_headers(&headers) {
        return refusal.into_response();
    }
    let authenticated = match authenticate(&emulator, &headers, peer_addr(peer)) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(query) = serde_urlencoded::from_str::<SubmitQuery>(query.as_deref().unwrap_or_default())
    else {
        return bad_request("Incoming request does not contain a valid payload.");
    };
    let (Ok(run_async), Ok(retry), Ok(nullable)) = (
        flag(query.run_async.as_deref(), false),
        flag(query.retry.as_deref(), false),
        flag(query.nullable.as_deref(), true),
    ) else {
        return bad_request("Incoming request does not contain a valid payload.");
    };
    let request_id = match query.request_id {
        Some(id) => match uuid::Uuid::parse_str(&id) {
            Ok(_) => id,
            Err(_) => return bad_request("The requestId parameter must be a UUID."),
        },
        None => uuid::Uuid::new_v4().to_string(),
    };
    let now = emulator.clock().now();

    if retry
        && let Some(response) =
            first_answer(&emulator, &request_id, &authenticated.user, nullable, now)
    {
        return response;
    }

    let request: StatementRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return bad_request("Incoming request does not contain a valid payload."),
    };
    let Some(sql) = request.statement.clone() else {
        return bad_request("Incoming request does not contain a valid payload.");
    };
    let fault = fault.map(|Extension(InjectedFault(kind))| kind);
    if fault == Some(FaultKind::StatementTimeout) {
        return timed_out(&request, now);
    }
    let user = authenticated.user.clone();
    let (outcome, label) = run(&emulator, authenticated, &request, &sql, now);

    let pending = pending_for(fault.as_ref(), run_async, now);
    let handle = uuid::Uuid::new_v4().to_string();
    let logged_request_id = request_id.clone();
    let mut stored = StoredStatement {
        handle: handle.clone(),
        request_id,
        user,
        created_on: now,
        outcome,
        pending,
    };
    let response = if stored.pending.is_some() {
        (StatusCode::ACCEPTED, Json(wire::running(&handle, now))).into_response()
    } else {
        let view = ResultView::first(emulator.statements().partitions(), nullable);
        answer(&mut stored, view, now)
    };
    {
        let mut statements = emulator.statements();
        statements.insert(stored, &label);
        if retry {
            statements.note_resend(&logged_request_id);
        }
    }

    if fault == Some(FaultKind::DropConnectionAfterExecute) {
        return drop_connection(connection, &handle).await;
    }
    response
}

/// The drop-connection fault: the statement ran and its result is stored, but the client
/// never gets an answer (the connection is closed under it), as after a network failure.
async fn drop_connection(
    connection: Option<Extension<ConnectionControl>>,
    handle: &str,
) -> Response {
    match connection {
        Some(Extension(control)) => {
            tracing::info!(handle = %handle, "fault: dropping the connection after execution");
            control.drop_connection();
            std::future::pending::<Response>().await
        }
        None => wire::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "390500",
            "Connection dropping needs the emulator's own server loop.",
        ),
    }
}

/// The statement-timeout fault: cancelled at its timeout before taking effect, so nothing
/// runs or is stored; answered 408 with the QueryStatus Snowflake sends.
fn timed_out(request: &StatementRequest, now: Timestamp) -> Response {
    tracing::info!("fault: 408, the statement timed out and was cancelled");
    let handle = uuid::Uuid::new_v4().to_string();
    let timeout = request
        .timeout
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(STATEMENT_TIMEOUT_IN_SECONDS);
    (
        StatusCode::REQUEST_TIMEOUT,
        Json(wire::timed_out(&handle, now, timeout)),
    )
        .into_response()
}

/// The answer of the first execution of `request_id`, for a resend (`retry=true`) by the
/// same user: Snowflake does not run a retried request twice.
fn first_answer(
    emulator: &Emulator,
    request_id: &str,
    user: &str,
    nullable: bool,
    now: Timestamp,
) -> Option<Response> {
    let mut statements = emulator.statements();
    let handle = statements.handle_for_request(request_id)?.to_owned();
    let view = ResultView::first(statements.partitions(), nullable);
    let stored = statements.get_mut(&handle).filter(|s| s.user == user)?;
    tracing::info!(handle = %handle, "retried request answered from its first execution");
    let response = answer(stored, view, now);
    statements.note_resend(request_id);
    Some(response)
}

/// What keeps a new statement running: an injected asynchronous delay, or `async=true`
/// (answered 202 until polled).
fn pending_for(fault: Option<&FaultKind>, run_async: bool, now: Timestamp) -> Option<Pending> {
    match fault {
        Some(FaultKind::AsyncDelay { delay_ms, polls }) => Some(Pending {
            ready_at: delay_ms.and_then(|ms| {
                let ms = i64::try_from(ms).ok()?;
                now.checked_add(SignedDuration::from_millis(ms)).ok()
            }),
            polls_left: *polls,
        }),
        _ if run_async => Some(Pending::default()),
        _ => None,
    }
}

async fn status(
    State(emulator): State<Emulator>,
    fault: Option<Extension<InjectedFault>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(handle): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let authenticated = match authenticate(&emulator, &headers, peer_addr(peer)) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(query) = serde_urlencoded::from_str::<StatusQuery>(query.as_deref().unwrap_or_default())
    else {
        return bad_request("Incoming request does not contain a valid payload.");
    };
    let Ok(nullable) = flag(query.nullable.as_deref(), true) else {
        return bad_request("Incoming request does not contain a valid payload.");
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

async fn cancel(
    State(emulator): State<Emulator>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> Response {
    let authenticated = match authenticate(&emulator, &headers, peer_addr(peer)) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
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
    fn gzip_is_used_only_when_the_request_accepts_it() {
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("deflate, br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
