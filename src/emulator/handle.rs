//! [`Emulator`]: the shared, cloneable handle every face (router) and test uses to
//! reach the account state, the clock, stored statements and queued faults.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use jiff::Timestamp;

use super::auth::{self, AuthError, Authenticated, OAuthTokenValidator};
use super::clock::Clock;
use super::config::{ConfigError, EmulatorConfig};
use super::faults::{FaultQueue, FaultSpec};
use super::oauth::{OAuthServer, OAuthSnapshot};
use super::oauth_account::{ServerValidator, StateDirectory};
use super::principal::Principal;
use super::sessions::SessionStore;
use super::sql::{ResultSet, SqlError};
use super::state::{AccountState, StateSnapshot};
use super::statements::{RequestLogEntry, StatementStore};
use super::workload_identity::IssuerKeys;

/// The emulator's shared state. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    state: Mutex<AccountState>,
    statements: Mutex<StatementStore>,
    stats: Mutex<super::stats::Stats>,
    faults: Mutex<FaultQueue>,
    oauth: RwLock<Option<Arc<dyn OAuthTokenValidator>>>,
    /// The authorization server. Lock order: `state` first, then this.
    oauth_server: Arc<Mutex<OAuthServer>>,
    /// Sessions of the driver protocol (session and master token hashes).
    driver_sessions: Mutex<SessionStore>,
    /// The OIDC issuers' signing keys for workload identity logins.
    issuer_keys: RwLock<IssuerKeys>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("clock_offset", &self.inner.clock.offset())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering from poisoning deliberately. A panic while a request held a
/// lock must not wedge every later request (a wedged emulator fails all remaining tests
/// with unrelated errors). Recovering is sound because statements that can fail part-way
/// (`ALTER USER SET`, the PAT clauses) stage their changes on a copy of the user and commit
/// it with one insert, and every other change under these locks is a single update, so a
/// panicking holder cannot leave a half-applied statement behind.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Emulator {
    /// Builds an emulator from a seed, on a fresh clock.
    pub fn new(config: &EmulatorConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, Clock::new())
    }

    /// Builds an emulator sharing an existing clock.
    pub fn with_clock(config: &EmulatorConfig, clock: Clock) -> Result<Self, ConfigError> {
        let state = AccountState::from_config(config, clock.now())?;
        let oauth_server = OAuthServer::new(config.oauth.clone())
            .map_err(|e| ConfigError::Invalid(format!("oauth: {e}")))?;
        let oauth_server = Arc::new(Mutex::new(oauth_server));
        let validator: Arc<dyn OAuthTokenValidator> =
            Arc::new(ServerValidator::new(oauth_server.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                clock,
                state: Mutex::new(state),
                statements: Mutex::new(StatementStore::new(config.result_partitions.clone())),
                stats: Mutex::default(),
                faults: Mutex::new(FaultQueue::default()),
                oauth: RwLock::new(Some(validator)),
                oauth_server,
                driver_sessions: Mutex::new(SessionStore::default()),
                issuer_keys: RwLock::new(IssuerKeys::from_config(&config.workload_identity)),
            }),
        })
    }

    /// Runs `f` on the authorization server with a [`Directory`](super::oauth::Directory)
    /// over the account state and the emulated now (state locked first, then OAuth).
    pub fn with_oauth<R>(
        &self,
        f: impl FnOnce(&mut OAuthServer, &StateDirectory<'_>, Timestamp) -> R,
    ) -> R {
        let state = lock(&self.inner.state);
        let mut server = lock(&self.inner.oauth_server);
        f(
            &mut server,
            &StateDirectory::new(&state),
            self.inner.clock.now(),
        )
    }

    /// The authorization server's codes and tokens: hashes, owners and expiries only.
    pub fn oauth_snapshot(&self) -> OAuthSnapshot {
        let now = self.inner.clock.now();
        lock(&self.inner.oauth_server).snapshot(now)
    }

    /// How many driver-protocol sessions are open (a connector's close removes its own).
    pub fn open_driver_sessions(&self) -> usize {
        lock(&self.inner.driver_sessions).len()
    }

    pub(crate) fn driver_sessions(&self) -> MutexGuard<'_, SessionStore> {
        lock(&self.inner.driver_sessions)
    }

    /// Trusts `keys` as the signing keys of the OIDC issuer `issuer` (a private issuer
    /// whose keys cannot be fetched), replacing any configured or fetched before.
    pub fn trust_issuer_keys(&self, issuer: &str, keys: jsonwebtoken::jwk::JwkSet) {
        self.inner
            .issuer_keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .configure(issuer, keys);
    }

    pub(crate) fn issuer_keys<R>(&self, f: impl FnOnce(&IssuerKeys) -> R) -> R {
        f(&self
            .inner
            .issuer_keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Whether the driver session of `principal` may still run statements: a session
    /// opened by a workload identity ends when that identity is removed or disabled.
    pub fn session_in_force(&self, principal: &Principal) -> bool {
        match &principal.method {
            super::principal::AuthMethod::WorkloadIdentity { identity } => lock(&self.inner.state)
                .users
                .get(&principal.user)
                .and_then(|u| u.workload_identity(identity))
                .is_some_and(|w| !w.disabled),
            _ => true,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Runs one statement as `principal` at the emulated now.
    pub fn execute(&self, principal: &Principal, sql: &str) -> Result<ResultSet, SqlError> {
        let now = self.inner.clock.now();
        super::sql::execute(&mut lock(&self.inner.state), principal, sql, now)
    }

    /// Gives a closure exclusive access to the account state.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut AccountState) -> R) -> R {
        f(&mut lock(&self.inner.state))
    }

    /// Authenticates an `Authorization` header value.
    pub fn authenticate_bearer(
        &self,
        authorization: Option<&str>,
        token_type: Option<&str>,
    ) -> Result<Authenticated, AuthError> {
        let oauth = self
            .inner
            .oauth
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let now = self.inner.clock.now();
        auth::authenticate_bearer(
            &lock(&self.inner.state),
            authorization,
            token_type,
            oauth.as_ref(),
            now,
        )
    }

    /// Applies the user's (or the account's) network policy to the client address.
    pub fn check_network_policy(&self, user: &str, client_ip: IpAddr) -> Result<(), AuthError> {
        let state = lock(&self.inner.state);
        match state.users.get(user) {
            Some(found) if !super::netpolicy::admits(&state, found, client_ip) => {
                Err(AuthError::IP_NOT_ALLOWED)
            }
            _ => Ok(()),
        }
    }

    /// Chooses the session role for an authenticated identity.
    pub fn session_principal(
        &self,
        authenticated: Authenticated,
        requested_role: Option<&str>,
    ) -> Result<Principal, SqlError> {
        auth::session_principal(&lock(&self.inner.state), authenticated, requested_role)
    }

    /// Replaces the access-token validator (the emulator's own authorization server is
    /// plugged in from the start; tests may substitute another).
    pub fn set_oauth_validator(&self, validator: Arc<dyn OAuthTokenValidator>) {
        *self
            .inner
            .oauth
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(validator);
    }

    /// Queues a fault for the next matching requests.
    pub fn inject_fault(&self, spec: FaultSpec) {
        lock(&self.inner.faults).push(spec);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultQueue> {
        lock(&self.inner.faults)
    }

    /// The load counters (see [`super::stats`]).
    pub fn stats(&self) -> MutexGuard<'_, super::stats::Stats> {
        lock(&self.inner.stats)
    }

    pub(crate) fn statements(&self) -> MutexGuard<'_, StatementStore> {
        lock(&self.inner.statements)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, AccountState> {
        lock(&self.inner.state)
    }

    /// Names, statuses, hashes and timestamps; never secrets.
    pub fn snapshot(&self) -> StateSnapshot {
        let now = self.inner.clock.now();
        lock(&self.inner.state).snapshot(now)
    }

    /// Which statement kinds ran for which `requestId`, and how many times.
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        lock(&self.inner.statements).log()
    }

    /// How many times statements submitted with `request_id` were executed.
    pub fn executions_for(&self, request_id: &str) -> u32 {
        lock(&self.inner.statements).executions_for(request_id)
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    #[test]
    fn a_panic_while_holding_the_state_lock_does_not_wedge_the_emulator() {
        let config =
            EmulatorConfig::from_yaml("account: {name: MYORG-ACCT}\n").expect("minimal seed");
        let emulator = Emulator::new(&config).expect("emulator");
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            emulator.with_state(|_| panic!("a bug in a statement handler"));
        }));
        assert!(panicked.is_err());
        assert!(emulator.inner.state.is_poisoned());
        // Every later request still gets an answer.
        assert_eq!(emulator.snapshot().account, "MYORG-ACCT");
        emulator.with_state(|state| assert!(state.users.is_empty()));
    }
}
