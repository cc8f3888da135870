//! Driver sessions: the session token every request carries, the master token that renews
//! it and closes the session, and the endpoints that act on sessions (close, heartbeat,
//! renewal). Only SHA-256 hashes of both tokens are kept.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::wire::{self, BAD_PAYLOAD, SESSION_EXPIRED, SESSION_GONE};
use crate::emulator::handle::Emulator;
use crate::emulator::principal::Principal;
use crate::emulator::secret::TokenSecret;

/// Lifetime of a session token (`validityInSeconds`).
pub const SESSION_VALIDITY_SECS: i64 = 3600;
/// Lifetime of a master token (`masterValidityInSeconds`).
pub const MASTER_VALIDITY_SECS: i64 = 14_400;

/// A master token that is unknown, expired, or not the one of the session being renewed.
const MASTER_INVALID: (&str, &str) = (
    "390114",
    "Authentication token has expired.  The user must authenticate again.",
);

/// One logged-in session.
#[derive(Debug, Clone)]
pub struct DriverSession {
    /// Who runs the session's statements, with the role chosen at login.
    pub principal: Principal,
    /// The numeric `sessionId` of the login answer.
    pub session_id: u64,
    /// When the session token stops working (renewable with the master token).
    pub expires_at: Timestamp,
    /// When the master token stops working (the session is then gone).
    pub master_expires_at: Timestamp,
    master_sha256: String,
}

/// Tokens handed to the client at login or renewal. `Debug` is redacted by [`TokenSecret`].
#[derive(Debug)]
pub struct IssuedTokens {
    pub session_token: TokenSecret,
    pub master_token: TokenSecret,
    pub session: DriverSession,
}

/// Every open driver session, keyed by the hash of its current session token.
#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: HashMap<String, DriverSession>,
    next_id: u64,
}

fn generate(prefix: &str) -> TokenSecret {
    let bytes: [u8; 32] = rand::random();
    TokenSecret::from_presented(&format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn after(now: Timestamp, secs: i64) -> Timestamp {
    now.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX)
}

impl SessionStore {
    /// Opens a session for `principal`; sessions whose master token expired are dropped.
    pub fn open(&mut self, principal: Principal, now: Timestamp) -> IssuedTokens {
        self.sessions.retain(|_, s| now < s.master_expires_at);
        self.next_id += 1;
        let session_token = generate("sfemu_session_");
        let master_token = generate("sfemu_master_");
        let session = DriverSession {
            principal,
            session_id: 1_000_000 + self.next_id,
            expires_at: after(now, SESSION_VALIDITY_SECS),
            master_expires_at: after(now, MASTER_VALIDITY_SECS),
            master_sha256: master_token.sha256_hex(),
        };
        self.sessions
            .insert(session_token.sha256_hex(), session.clone());
        IssuedTokens {
            session_token,
            master_token,
            session,
        }
    }

    /// The live session of `token`: 390111 when unknown or closed, 390112 when its
    /// session token expired (the connector then renews it).
    pub fn lookup(
        &self,
        token: &TokenSecret,
        now: Timestamp,
    ) -> Result<&DriverSession, (&'static str, &'static str)> {
        let session = self
            .sessions
            .get(&token.sha256_hex())
            .filter(|s| now < s.master_expires_at)
            .ok_or(SESSION_GONE)?;
        if now >= session.expires_at {
            return Err(SESSION_EXPIRED);
        }
        Ok(session)
    }

    /// Closes the session of `token`; false when there was none.
    pub fn close(&mut self, token: &TokenSecret) -> bool {
        self.sessions.remove(&token.sha256_hex()).is_some()
    }

    /// Replaces the (possibly expired) session token `old` with a fresh one, given the
    /// session's master token.
    pub fn renew(
        &mut self,
        master: &TokenSecret,
        old: &TokenSecret,
        now: Timestamp,
    ) -> Result<(TokenSecret, DriverSession), (&'static str, &'static str)> {
        let old_hash = old.sha256_hex();
        let valid = self
            .sessions
            .get(&old_hash)
            .is_some_and(|s| s.master_sha256 == master.sha256_hex() && now < s.master_expires_at);
        let mut session = match self.sessions.remove(&old_hash) {
            Some(session) if valid => session,
            Some(session) => {
                self.sessions.insert(old_hash, session);
                return Err(MASTER_INVALID);
            }
            None => return Err(MASTER_INVALID),
        };
        session.expires_at = after(now, SESSION_VALIDITY_SECS);
        let token = generate("sfemu_session_");
        self.sessions.insert(token.sha256_hex(), session.clone());
        Ok((token, session))
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::principal::AuthMethod;

    fn principal() -> Principal {
        Principal {
            user: "BI_SVC".into(),
            role: "ANALYST".into(),
            method: AuthMethod::KeyPairJwt,
        }
    }

    #[test]
    fn sessions_expire_renew_and_close() {
        let mut store = SessionStore::default();
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let issued = store.open(principal(), t0);
        assert!(!format!("{issued:?}").contains(issued.session_token.expose()));
        assert!(store.lookup(&issued.session_token, t0).is_ok());
        let later = after(t0, SESSION_VALIDITY_SECS);
        assert_eq!(
            store.lookup(&issued.session_token, later).unwrap_err(),
            SESSION_EXPIRED
        );
        let wrong_master = generate("x");
        assert_eq!(
            store
                .renew(&wrong_master, &issued.session_token, later)
                .unwrap_err(),
            MASTER_INVALID
        );
        let (renewed, _) = store
            .renew(&issued.master_token, &issued.session_token, later)
            .expect("renewed with the master token");
        assert_eq!(
            store.lookup(&issued.session_token, later).unwrap_err(),
            SESSION_GONE
        );
        assert!(store.lookup(&renewed, later).is_ok());
        assert!(store.close(&renewed));
        assert_eq!(store.lookup(&renewed, later).unwrap_err(), SESSION_GONE);
        assert!(store.is_empty());
    }
}
