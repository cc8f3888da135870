//! The in-process emulator and clients of every kind pointed at it.
//!
//! The client's clock follows the emulator's (advancing the emulated time makes the
//! client sign JWTs for the new "now"), and its retry and poll timings are shrunk so
//! retry tests take milliseconds.
// Shared with `client_emulator_logs.rs`, which uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use secrecy::SecretString;
use snowflake_token_operator::emulator::{self, Principal, RunningEmulator};
use snowflake_token_operator::snowflake::{
    Account, Authenticator, BearerKind, Clock, JwtSigner, PrivateKey, RetryPolicy, SnowflakeClient,
    SqlApiClient, SqlApiConfig, StaticToken,
};

pub use crate::emulator_support::{admin, key, start};

/// The emulator's clock, seen through the client's [`Clock`] trait.
#[derive(Debug)]
pub struct EmulatedTime(pub emulator::Clock);

impl Clock for EmulatedTime {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// Retry budget of the tests: six attempts, backoff capped at 20 ms.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

/// Client settings with short timeouts and the fast retry budget.
pub fn fast_config() -> SqlApiConfig {
    SqlApiConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        retry: fast_retry(),
        poll_initial: Duration::from_millis(2),
        poll_max: Duration::from_millis(10),
        ..SqlApiConfig::default()
    }
}

/// The account as the operator would configure it: org-account name plus a host override
/// pointing at the emulator.
pub fn account(running: &RunningEmulator) -> Account {
    Account::new("myorg-test", Some(&running.base_url())).expect("account parses")
}

/// Counts what the transport asks of its authenticator, to see a JWT being re-signed.
#[derive(Debug)]
pub struct CountingAuth {
    inner: JwtSigner,
    pub bearers: AtomicUsize,
    pub invalidations: AtomicUsize,
}

impl Authenticator for CountingAuth {
    fn bearer(&self) -> snowflake_token_operator::snowflake::Result<SecretString> {
        self.bearers.fetch_add(1, Ordering::SeqCst);
        self.inner.bearer()
    }

    fn token_type(&self) -> &'static str {
        self.inner.token_type()
    }

    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.inner.invalidate();
    }
}

/// A key-pair signer for `user` with fixture key `key_no`, on the emulated clock.
pub fn signer(running: &RunningEmulator, user: &str, key_no: u8) -> JwtSigner {
    let key = PrivateKey::from_pem(&key(key_no).private_pem, None).expect("fixture key loads");
    JwtSigner::new(
        &account(running),
        user,
        &key,
        Arc::new(EmulatedTime(running.emulator().clock().clone())),
    )
    .expect("signer")
}

/// A client authenticating as `user` with fixture key `key_no`, with `config`.
pub fn client_with(
    running: &RunningEmulator,
    user: &str,
    key_no: u8,
    config: SqlApiConfig,
) -> SnowflakeClient {
    let auth = Arc::new(signer(running, user, key_no));
    SnowflakeClient::new(SqlApiClient::new(account(running), auth, config).expect("client"))
}

/// The operator's admin connection: `OPERATOR_ADMIN` (role USERADMIN) with key 1.
pub fn admin_client(running: &RunningEmulator) -> SnowflakeClient {
    client_with(running, "OPERATOR_ADMIN", 1, fast_config())
}

/// The admin connection and its signer, whose cache holds the JWT the client sends.
pub fn admin_client_and_signer(running: &RunningEmulator) -> (SnowflakeClient, Arc<JwtSigner>) {
    let auth = Arc::new(signer(running, "OPERATOR_ADMIN", 1));
    let api = SqlApiClient::new(account(running), auth.clone(), fast_config()).expect("client");
    (SnowflakeClient::new(api), auth)
}

/// A client whose JWT signer is counted.
pub fn counted_client(
    running: &RunningEmulator,
    user: &str,
    key_no: u8,
) -> (SnowflakeClient, Arc<CountingAuth>) {
    let auth = Arc::new(CountingAuth {
        inner: signer(running, user, key_no),
        bearers: AtomicUsize::new(0),
        invalidations: AtomicUsize::new(0),
    });
    let api = SqlApiClient::new(account(running), auth.clone(), fast_config()).expect("client");
    (SnowflakeClient::new(api), auth)
}

/// A client using a minted PAT as its bearer token, as a consumer of the Secret would.
pub fn pat_client(running: &RunningEmulator, secret: &SecretString) -> SnowflakeClient {
    let auth = Arc::new(StaticToken::new(
        secret.clone(),
        BearerKind::ProgrammaticAccessToken,
    ));
    SnowflakeClient::new(SqlApiClient::new(account(running), auth, fast_config()).expect("client"))
}

/// Runs SQL straight in the emulator as its admin (drift made "by hand", outside the client).
pub fn by_hand(running: &RunningEmulator, sql: &str) {
    let principal: Principal = admin();
    running
        .emulator()
        .execute(&principal, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

/// Log lines of a statement kind (e.g. `ALTER USER ADD PAT`) in the emulator's request log.
pub fn logged(
    running: &RunningEmulator,
    kind: &str,
) -> Vec<snowflake_token_operator::emulator::statements::RequestLogEntry> {
    running
        .request_log()
        .into_iter()
        .filter(|e| e.statement == kind)
        .collect()
}
