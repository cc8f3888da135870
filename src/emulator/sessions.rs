//! Sessions of the driver protocol: the session token every request carries and the
//! master token that renews it and closes the session. Only SHA-256 hashes of both tokens
//! are kept. The endpoints that act on sessions are in the driver face
//! (`driver/session.rs`); the store lives here, in the core, because the shared
//! [`Emulator`](super::Emulator) handle owns it.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};

use super::principal::Principal;
use super::secret::TokenSecret;

/// Lifetime of a session token (`validityInSeconds`).
pub const SESSION_VALIDITY_SECS: i64 = 3600;
/// Lifetime of a master token (`masterValidityInSeconds`).
pub const MASTER_VALIDITY_SECS: i64 = 14_400;

/// A master token that is unknown, expired, or not the one of the session being renewed.
pub const MASTER_INVALID: (&str, &str) = (
    "390114",
    "Authentication token has expired.  The user must authenticate again.",
);

/// An unknown or deleted session token (the connector does not try to renew it).
pub const SESSION_GONE: (&str, &str) = (
    "390111",
    "Session no longer exists.  New login required to access the service.",
);
/// An expired session token: the connector renews it with the master token.
pub const SESSION_EXPIRED: (&str, &str) =
    ("390112", "Your session has expired. Please login again.");

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
