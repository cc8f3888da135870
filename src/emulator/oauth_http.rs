//! The OAuth face: `GET /oauth/authorize` and `POST /oauth/token-request` over the pure
//! authorization-server model ([`super::oauth`]), reached through
//! [`Emulator::with_oauth`] with the account's users as its directory
//! ([`super::oauth_account`]).
//!
//! Nothing here logs a code or token: the model keeps them wrapped, and the handlers log
//! client ids and outcomes only.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::faults::{self, ConnectionControl, FaultKind, InjectedFault};
use super::handle::Emulator;
use super::oauth::{AuthorizeRequest, ErrorResponse, TokenError, TokenRequest};

/// The OAuth routes.
pub fn router() -> Router<Emulator> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token-request", post(token_request))
}

fn json_response(answer: ErrorResponse) -> Response {
    let mut response = (answer.status, axum::Json(answer.body)).into_response();
    no_store(&mut response);
    response
}

/// Token answers must not be cached (RFC 6749 §5.1).
fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            no_store(&mut response);
            response
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"message": "The redirect URI cannot be used."})),
        )
            .into_response(),
    }
}

/// `GET /oauth/authorize`: 302 to the client with a code (or an error the client can
/// see), or a 400 page when the client or redirect URI cannot be trusted.
async fn authorize(State(emulator): State<Emulator>, RawQuery(query): RawQuery) -> Response {
    let request: AuthorizeRequest =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let client_id = request.client_id.clone().unwrap_or_default();
    let outcome = emulator.with_oauth(|server, directory, now| {
        server
            .authorize(directory, &request, now)
            .map(|ok| ok.location().to_owned())
            .map_err(|failure| {
                let page = failure.response(server.error_rendering());
                (failure.error.code(), failure.location(), page)
            })
    });
    match outcome {
        Ok(location) => {
            tracing::info!(%client_id, "OAuth authorize: code issued");
            redirect(&location)
        }
        // Snowflake's numeric error code (`390306`...), named so that nobody takes the
        // field for an authorization code when reading the logs.
        Err((snowflake_code, Some(location), _)) => {
            tracing::info!(%client_id, snowflake_code, "OAuth authorize refused: sent back to the client");
            redirect(&location)
        }
        Err((snowflake_code, None, page)) => {
            tracing::info!(%client_id, snowflake_code, "OAuth authorize refused");
            json_response(page)
        }
    }
}

/// `POST /oauth/token-request` (form body, HTTP Basic client authentication).
///
/// Honours the drop-connection fault as the SQL API does: the request is processed in
/// full (a code is redeemed, a single-use refresh token rotated) before the connection
/// is closed without an answer, so a client that resends the lost request meets a
/// replay, which is what Snowflake would answer too.
async fn token_request(
    State(emulator): State<Emulator>,
    fault: Option<Extension<InjectedFault>>,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let parsed = serde_urlencoded::from_bytes::<TokenRequest>(&body);
    let outcome = emulator.with_oauth(|server, directory, now| {
        let result = match &parsed {
            Ok(request) => server.token(directory, request, authorization, now),
            Err(_) => Err(TokenError::InvalidRequest("a form-urlencoded body")),
        };
        result
            .map(|tokens| tokens.to_json())
            .map_err(|e| (e.oauth_error(), e.response(server.error_rendering())))
    });
    if matches!(
        fault,
        Some(Extension(InjectedFault(
            FaultKind::DropConnectionAfterExecute
        )))
    ) {
        let outcome = outcome
            .as_ref()
            .map_or_else(|(error, _)| *error, |_| "issued");
        tracing::info!(
            outcome,
            "fault: dropping the connection after the token request"
        );
        return faults::drop_connection(connection.map(|Extension(control)| control)).await;
    }
    match outcome {
        Ok(body) => {
            tracing::info!("OAuth token request: tokens issued");
            json_response(ErrorResponse {
                status: StatusCode::OK,
                body,
            })
        }
        Err((error, answer)) => {
            tracing::info!(error, "OAuth token request refused");
            json_response(answer)
        }
    }
}
