//! `POST /api/v2/statements`: checks, authenticates, runs the statement (or answers a
//! resend from its first execution), stores it for polling and applies the
//! statement-level faults (202 delay, 408 timeout, drop the connection after execution).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::body::{NonNegative, StatementRequest};
use super::{BAD_PAYLOAD, admit, answer, bad_request, flag, peer_addr, request_id_param};
use crate::emulator::auth::Authenticated;
use crate::emulator::faults::{self, ConnectionControl, FaultKind, InjectedFault};
use crate::emulator::handle::Emulator;
use crate::emulator::sql::SqlError;
use crate::emulator::sql::ast::Statement;
use crate::emulator::sql::exec::execute_statement;
use crate::emulator::sql::parser::parse_request;
use crate::emulator::statements::{Outcome, Pending, StoredStatement};
use crate::emulator::wire::{self, ResultView};

#[derive(Debug, Default, Deserialize)]
struct SubmitQuery {
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    #[serde(rename = "async")]
    run_async: Option<String>,
    retry: Option<String>,
    nullable: Option<String>,
}

/// Snowflake's default `STATEMENT_TIMEOUT_IN_SECONDS` (two days), used when a request
/// carries no `timeout`.
const STATEMENT_TIMEOUT_IN_SECONDS: u64 = 172_800;

/// Parses and runs the request's statement, returning the outcome and its log label.
fn run(
    emulator: &Emulator,
    authenticated: Authenticated,
    request: &StatementRequest,
    sql: &str,
    now: Timestamp,
) -> (Outcome, String) {
    let principal =
        match emulator.session_principal(authenticated, request.role.get().map(String::as_str)) {
            Ok(principal) => principal,
            Err(e) => return (Outcome::Failure(e), "<session>".into()),
        };
    let statements = match parse_request(sql, request.statement_count()) {
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

pub(super) async fn submit(
    State(emulator): State<Emulator>,
    fault: Option<Extension<InjectedFault>>,
    connection: Option<Extension<ConnectionControl>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authenticated = match admit(&emulator, &headers, peer_addr(peer)) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(query) = serde_urlencoded::from_str::<SubmitQuery>(query.as_deref().unwrap_or_default())
    else {
        return bad_request(BAD_PAYLOAD);
    };
    let (Ok(run_async), Ok(retry), Ok(nullable)) = (
        flag(query.run_async.as_deref(), false),
        flag(query.retry.as_deref(), false),
        flag(query.nullable.as_deref(), true),
    ) else {
        return bad_request(BAD_PAYLOAD);
    };
    let request_id = match request_id_param(query.request_id.as_deref()) {
        Ok(id) => id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        Err(refusal) => return refusal.into_response(),
    };
    let now = emulator.clock().now();

    if retry
        && let Some(response) =
            first_answer(&emulator, &request_id, &authenticated.user, nullable, now)
    {
        return response;
    }

    let Some(request) = StatementRequest::parse(&body) else {
        return bad_request(BAD_PAYLOAD);
    };
    let sql = request.statement.get().cloned().unwrap_or_default();
    let fault = fault.map(|Extension(InjectedFault(kind))| kind);
    if fault == Some(FaultKind::StatementTimeout) {
        return timed_out(&request, now);
    }
    let user = authenticated.user.clone();
    let (outcome, label) = run(&emulator, authenticated, &request, &sql, now);
    emulator.stats().executed(&label);

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
        tracing::info!(handle = %handle, "fault: dropping the connection after execution");
        return faults::drop_connection(connection.map(|Extension(control)| control)).await;
    }
    response
}

/// The statement-timeout fault: cancelled at its timeout before taking effect, so nothing
/// runs or is stored; answered 408 with the QueryStatus Snowflake sends.
fn timed_out(request: &StatementRequest, now: Timestamp) -> Response {
    tracing::info!("fault: 408, the statement timed out and was cancelled");
    let handle = uuid::Uuid::new_v4().to_string();
    let timeout = request
        .timeout
        .get()
        .map_or(STATEMENT_TIMEOUT_IN_SECONDS, |NonNegative(secs)| *secs);
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
