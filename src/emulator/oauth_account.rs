//! The OAuth model ([`super::oauth`]) wired to the emulated account: the account's users
//! as the authorization server's [`Directory`], and the validator that lets the access
//! tokens it issued authenticate on the SQL API and the driver login. Part of the core
//! (the [`Emulator`](super::Emulator) handle builds both), not of the OAuth face.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::auth::{AuthError, Authenticated, OAuthTokenValidator};
use super::oauth::{Directory, DirectoryUser, OAuthServer};
use super::principal::AuthMethod;
use super::secret::TokenSecret;
use super::state::AccountState;

/// The emulated account's users as the authorization server sees them. Names resolve as
/// Snowflake resolves unquoted identifiers: exactly, else uppercased.
pub struct StateDirectory<'a> {
    state: &'a AccountState,
}

impl<'a> StateDirectory<'a> {
    pub fn new(state: &'a AccountState) -> Self {
        Self { state }
    }
}

impl Directory for StateDirectory<'_> {
    fn lookup_user(&self, name: &str) -> Option<DirectoryUser> {
        let user = self
            .state
            .users
            .get(name)
            .or_else(|| self.state.users.get(&name.to_ascii_uppercase()))?;
        Some(DirectoryUser {
            name: user.name.clone(),
            disabled: user.disabled,
            default_role: user.default_role.clone(),
            granted_roles: user.grants.keys().cloned().collect::<BTreeSet<_>>(),
        })
    }
}

/// Accepts the access tokens the emulator's authorization server issued.
pub struct ServerValidator {
    server: Arc<Mutex<OAuthServer>>,
}

impl ServerValidator {
    pub fn new(server: Arc<Mutex<OAuthServer>>) -> Self {
        Self { server }
    }
}

impl OAuthTokenValidator for ServerValidator {
    fn validate(&self, token: &TokenSecret, now: Timestamp) -> Option<Authenticated> {
        self.check(token, now).ok()
    }

    fn check(&self, token: &TokenSecret, now: Timestamp) -> Result<Authenticated, AuthError> {
        // Poisoning is recovered from for the reason given on the emulator's own `lock`:
        // one panicked request must not turn every later bearer check into a panic.
        let server = self
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let session = server.validate_access_token(token.expose(), now)?;
        Ok(Authenticated {
            user: session.user,
            method: AuthMethod::OAuth,
            forced_role: Some(session.role),
        })
    }
}
