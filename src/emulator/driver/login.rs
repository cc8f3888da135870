//! `POST /session/v1/login-request`: authenticates the `data` of the login body by its
//! `AUTHENTICATOR`, applies the network policy, picks the session role (the PAT's role
//! restriction or the OAuth scope's role wins; else `roleName`, else the default role),
//! and opens a session.
//!
//! Codes (docs/emulator-driver-protocol.md §3.2): a PAT (as `PASSWORD` or `TOKEN`) that is
//! wrong, expired, disabled or rotated out is 394400; a password that is no PAT at all
//! 390100; a bad JWT 390144; an OAuth token unknown or revoked 390303, expired 390318,
//! for another user 390309; a workload identity token not accepted 390144 (the emulator's
//! choice, see [`workload_identity`]); a disabled user 390102; a client IP outside the
//! network policy 390422; a role not granted 390189.

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::wire::{self, BAD_PAYLOAD};
use crate::emulator::auth::{self, AuthError, Authenticated};
use crate::emulator::handle::Emulator;
use crate::emulator::principal::AuthMethod;
use crate::emulator::secret::TokenSecret;
use crate::emulator::sessions::{MASTER_VALIDITY_SECS, SESSION_VALIDITY_SECS};
use crate::emulator::state::AccountState;
use crate::emulator::workload_identity;

/// What the emulator reports as `serverVersion`.
const SERVER_VERSION: &str = "9.0.0";

/// The credential fields of the login body. Secrets are wrapped as soon as they are read.
struct LoginData {
    /// The user the connector names, `None` when it names none: the connectors send an
    /// empty `LOGIN_NAME` for a connection without `user` (4.8.1 and 5.x with OAuth), or
    /// leave the field out (5.x with a PAT), and both mean "the token's own user".
    login_name: Option<String>,
    authenticator: String,
    password: Option<TokenSecret>,
    token: Option<TokenSecret>,
    /// `PROVIDER` of a workload identity login (`OIDC`, `AWS`, …).
    provider: Option<String>,
}

impl LoginData {
    fn parse(body: &Value) -> Option<Self> {
        let data = body.get("data")?.as_object()?;
        let text = |key: &str| data.get(key).and_then(Value::as_str);
        Some(Self {
            login_name: text("LOGIN_NAME")
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            authenticator: text("AUTHENTICATOR")
                .unwrap_or("SNOWFLAKE")
                .to_ascii_uppercase(),
            password: text("PASSWORD").map(TokenSecret::from_presented),
            token: text("TOKEN").map(TokenSecret::from_presented),
            provider: text("PROVIDER").map(str::to_owned),
        })
    }
}

/// A role as named in the connect string: quoted names as written, others uppercase.
fn role_identifier(raw: &str) -> String {
    let raw = raw.trim();
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => raw.to_ascii_uppercase(),
    }
}

/// True when `login_name` (if given) names the user `user`.
fn names_user(state: &AccountState, login_name: Option<&str>, user: &str) -> bool {
    let Some(login_name) = login_name else {
        return true;
    };
    state.users.get(user).is_some_and(|u| {
        login_name.eq_ignore_ascii_case(&u.login_name) || login_name.eq_ignore_ascii_case(&u.name)
    })
}

/// A PAT presented as `TOKEN` or `PASSWORD`, for the user named by `LOGIN_NAME` if any.
fn pat_login(
    state: &AccountState,
    token: &TokenSecret,
    login_name: Option<&str>,
    now: Timestamp,
) -> Result<Authenticated, AuthError> {
    let authenticated = auth::authenticate_pat(state, token, now)?;
    if !names_user(state, login_name, &authenticated.user) {
        return Err(AuthError::PAT_INVALID);
    }
    Ok(authenticated)
}

/// True when `secret` is (or was) one of the account's PATs, or has the emulator's PAT
/// shape: such a password is judged as a PAT (394400), anything else as a password (390100).
fn is_pat_like(state: &AccountState, secret: &TokenSecret) -> bool {
    let hash = secret.sha256_hex();
    secret.expose().starts_with("sfemu_pat_")
        || state
            .users
            .values()
            .any(|u| u.pats.iter().any(|p| p.secret_sha256 == hash))
}

fn authenticate(emulator: &Emulator, data: &LoginData) -> Result<Authenticated, AuthError> {
    let now = emulator.clock().now();
    let login_name = data.login_name.as_deref();
    match data.authenticator.as_str() {
        "SNOWFLAKE" => {
            let password = data.password.as_ref().ok_or(AuthError::PASSWORD_INVALID)?;
            emulator.with_state(|state| {
                if is_pat_like(state, password) {
                    pat_login(state, password, login_name, now)
                } else {
                    Err(AuthError::PASSWORD_INVALID)
                }
            })
        }
        "PROGRAMMATIC_ACCESS_TOKEN" => {
            let token = data.token.as_ref().ok_or(AuthError::PAT_INVALID)?;
            emulator.with_state(|state| pat_login(state, token, login_name, now))
        }
        "OAUTH" => {
            let token = data.token.as_ref().ok_or(AuthError::OAUTH_INVALID)?;
            let session = emulator.with_oauth(|server, _, now| {
                server.validate_access_token_for_login(token.expose(), login_name, now)
            })?;
            emulator.with_state(|state| {
                auth::oauth_user_enabled(
                    state,
                    Authenticated {
                        user: session.user,
                        method: AuthMethod::OAuth,
                        forced_role: Some(session.role),
                    },
                )
            })
        }
        "SNOWFLAKE_JWT" => {
            let token = data.token.as_ref().ok_or(AuthError::JWT_INVALID)?;
            emulator.with_state(|state| auth::authenticate_jwt(state, token.expose(), now))
        }
        _ => Err(AuthError::PASSWORD_INVALID),
    }
}

fn refused(reason: &AuthError, authenticator: &str) -> Response {
    tracing::info!(code = reason.code, authenticator, "driver login refused");
    wire::refusal(reason.code, reason.message)
}

pub async fn login(
    State(emulator): State<Emulator>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(data) = wire::json_body(&headers, &body).and_then(|b| LoginData::parse(&b)) else {
        return wire::refusal(BAD_PAYLOAD.0, BAD_PAYLOAD.1);
    };
    let role = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "roleName")
        .map(|(_, v)| role_identifier(&v))
        .filter(|r| !r.is_empty());
    let verdict = if data.authenticator == "WORKLOAD_IDENTITY" {
        workload_identity::authenticate(
            &emulator,
            data.provider.as_deref(),
            data.token.as_ref(),
            data.login_name.as_deref(),
        )
        .await
        .map_err(|refusal| {
            tracing::info!(reason = %refusal, "workload identity login refused");
            AuthError::from(&refusal)
        })
    } else {
        authenticate(&emulator, &data)
    };
    let authenticated = match verdict {
        Ok(authenticated) => authenticated,
        Err(reason) => return refused(&reason, &data.authenticator),
    };
    if let Some(Extension(ConnectInfo(peer))) = peer
        && let Err(reason) = emulator.check_network_policy(&authenticated.user, peer.ip())
    {
        return refused(&reason, &data.authenticator);
    }
    let principal = match emulator.session_principal(authenticated, role.as_deref()) {
        Ok(principal) => principal,
        Err(e) => {
            tracing::info!(code = e.code, "driver login refused: session role");
            return wire::refusal(e.code, &e.message);
        }
    };
    let warehouse = emulator.with_state(|state| {
        state
            .users
            .get(&principal.user)
            .and_then(|u| u.default_warehouse.clone())
    });
    let now = emulator.clock().now();
    let issued = emulator.driver_sessions().open(principal, now);
    let session = &issued.session;
    tracing::info!(
        user = %session.principal.user,
        role = %session.principal.role,
        authenticator = %data.authenticator,
        "driver login"
    );
    wire::success(json!({
        "token": issued.session_token.expose(),
        "validityInSeconds": SESSION_VALIDITY_SECS,
        "masterToken": issued.master_token.expose(),
        "masterValidityInSeconds": MASTER_VALIDITY_SECS,
        "displayUserName": session.principal.user,
        "serverVersion": SERVER_VERSION,
        "firstLogin": false,
        "remMeToken": null,
        "remMeValidityInSeconds": 0,
        "healthCheckInterval": 45,
        "newClientForUpgrade": null,
        "sessionId": session.session_id,
        "parameters": [],
        "sessionInfo": {
            "databaseName": null,
            "schemaName": null,
            "warehouseName": warehouse,
            "roleName": session.principal.role,
        },
        "idToken": null,
        "idTokenValidityInSeconds": 0,
        "responseData": null,
        "mfaToken": null,
        "mfaTokenValidityInSeconds": 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_resolve_like_identifiers() {
        assert_eq!(role_identifier("analyst"), "ANALYST");
        assert_eq!(role_identifier("\"Mixed\"\"Case\""), "Mixed\"Case");
    }

    #[test]
    fn login_data_wraps_secrets() {
        let body = json!({"data": {"LOGIN_NAME": "bi_svc", "PASSWORD": "hunter2-secret"}});
        let data = LoginData::parse(&body).expect("parses");
        assert_eq!(data.authenticator, "SNOWFLAKE");
        assert_eq!(data.login_name.as_deref(), Some("bi_svc"));
        let password = data.password.expect("password");
        assert!(!format!("{password:?}").contains("hunter2-secret"));
        assert!(LoginData::parse(&json!({"nodata": 1})).is_none());
    }

    #[test]
    fn an_empty_login_name_names_no_user() {
        for data in [
            json!({"LOGIN_NAME": "", "AUTHENTICATOR": "OAUTH"}),
            json!({"LOGIN_NAME": "  ", "AUTHENTICATOR": "OAUTH"}),
            json!({"LOGIN_NAME": null, "AUTHENTICATOR": "OAUTH"}),
            json!({"AUTHENTICATOR": "PROGRAMMATIC_ACCESS_TOKEN"}),
        ] {
            let data = LoginData::parse(&json!({ "data": data })).expect("parses");
            assert_eq!(data.login_name, None);
        }
    }
}
