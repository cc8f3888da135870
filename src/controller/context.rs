//! What every reconcile shares: the Kubernetes client, configuration, clock, Snowflake
//! clients, caches of the watched kinds, the event recorder and the metrics.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use secrecy::SecretString;

use super::connector::Connector;
use super::listings::Listings;
use super::secret::cache::CachedSecret;
use super::token::pat_policy::Cause;
use crate::api::{SnowflakeConnection, SnowflakeServiceUser};
use crate::metrics::Metrics;
use crate::snowflake::{Clock, SqlApiConfig, SystemClock};

/// How the operator runs (flags of `run`).
#[derive(Clone)]
pub struct Config {
    /// Watch only this namespace (`None`: all namespaces).
    pub namespace: Option<String>,
    /// Reconcile only resources matching this label selector (all three kinds), so a
    /// large fleet can be split across deployments.
    pub label_selector: Option<String>,
    /// Reconciles running at once per controller.
    pub concurrency: u16,
    /// How often tokens and service users are compared with Snowflake (`SHOW USER PATS`,
    /// `DESC USER`) to catch changes made there.
    pub drift_interval: Duration,
    /// How often a connection's key Secret is re-read and the connection re-verified.
    pub connection_interval: Duration,
    /// First delay after a failure; doubles up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest delay between retries of a failure.
    pub backoff_max: Duration,
    /// Snowflake client settings (timeouts, retries, requests in flight per connection).
    pub snowflake: SqlApiConfig,
    /// The time (tests share one clock with the emulator).
    pub clock: Arc<dyn Clock>,
    /// This process's name in events and the lease (the pod name in a cluster).
    pub instance: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("namespace", &self.namespace)
            .field("label_selector", &self.label_selector)
            .field("concurrency", &self.concurrency)
            .field("drift_interval", &self.drift_interval)
            .field("connection_interval", &self.connection_interval)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: None,
            label_selector: None,
            concurrency: 16,
            drift_interval: Duration::from_secs(3600),
            connection_interval: Duration::from_secs(300),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            snowflake: SqlApiConfig {
                // Patient with throttling: a burst of 429s or 5xx (Snowflake's rate limit,
                // a brief outage) is ridden out for up to two minutes of jittered backoff
                // (`Retry-After` honoured, every resend under the statement's `requestId`)
                // rather than turned into a failed reconcile; other transient failures
                // (no answer, a refused connection) still count against `max_attempts`,
                // and a statement's deadline bounds it all.
                retry: crate::snowflake::RetryPolicy {
                    max_attempts: 12,
                    ..crate::snowflake::RetryPolicy::default()
                },
                throttle_patience: Some(Duration::from_secs(120)),
                ..SqlApiConfig::default()
            },
            clock: Arc::new(SystemClock),
            instance: "snowflake-token-operator".into(),
        }
    }
}

/// A PAT value Snowflake showed once and the Secret does not hold yet: kept so that a
/// failed Secret write is retried with the same value instead of minting another.
#[derive(Clone)]
pub struct PendingValue {
    /// The token name.
    pub token_name: String,
    /// The secret.
    pub secret: SecretString,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// Why it was issued (for events and metrics); `None` for the value the Secret
    /// already holds, written again only to render the Secret as the spec says.
    pub cause: Option<Cause>,
    /// Whether the pre-swap check already accepted it.
    pub verified: bool,
}

impl std::fmt::Debug for PendingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingValue")
            .field("token_name", &self.token_name)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An OAuth answer not yet stored completely: the refresh token it carried (single-use
/// mode), until the refresh-token Secret holds it, and the access token, until the token's
/// Secret holds it. The next attempt stores it instead of refreshing again, so a spent
/// refresh token is never sent twice. `Debug` shows no token.
pub struct OAuthPending {
    /// The access token.
    pub access_token: SecretString,
    /// When it was issued (the answer's time).
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// A new refresh token the refresh-token Secret does not hold yet.
    pub refresh_token: Option<SecretString>,
    /// The refresh-token Secret's resourceVersion read before the refresh: the new
    /// refresh token is stored only over that version (a person's `authorize` meanwhile
    /// wins).
    pub refresh_secret_version: Option<String>,
    /// SHA-256 of the refresh token now current for this access token.
    pub refreshed_from: String,
    /// Whether the answer carried a new refresh token (single-use mode).
    pub single_use: bool,
    /// When the refresh token expires, when known.
    pub refresh_expires_at: Option<Timestamp>,
    /// Why it was refreshed.
    pub cause: super::token::oauth_policy::Cause,
    /// The session role Snowflake granted (from the answer's scope), if it said.
    pub granted_role: Option<String>,
}

impl std::fmt::Debug for OAuthPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthPending")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("stores_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Shared state of the controllers.
pub struct Context {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// Settings.
    pub config: Config,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Snowflake clients per connection.
    pub connector: Connector,
    /// Connections, as watched.
    pub connections: Store<SnowflakeConnection>,
    /// Service users, as watched.
    pub users: Store<SnowflakeServiceUser>,
    /// The Secrets the operator manages (label-selected), as watched.
    pub secrets: Store<CachedSecret>,
    /// Recent `SHOW USER PATS` answers per user.
    pub listings: Listings,
    /// Turns true once every cache has its initial list.
    synced: tokio::sync::watch::Receiver<bool>,
    events: super::events::Publisher,
    pending: Mutex<HashMap<String, PendingValue>>,
    oauth_pending: Mutex<HashMap<String, OAuthPending>>,
    refused: Mutex<HashMap<String, String>>,
    checked: Mutex<HashMap<String, Timestamp>>,
    failures: Mutex<HashMap<String, u32>>,
    written: Mutex<HashMap<String, Timestamp>>,
    honoured: Mutex<HashMap<String, String>>,
    versions: Mutex<HashMap<String, u64>>,
    /// The cluster's service-account token issuer, once discovered.
    cluster_issuer: tokio::sync::OnceCell<String>,
    started: Timestamp,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `at` without its fraction of a second.
pub fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section is a single map operation: a panic cannot leave it
    // half-updated, so a poisoned lock is still consistent.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Context {
    /// Assembles the context.
    pub fn new(
        client: kube::Client,
        config: Config,
        metrics: Arc<Metrics>,
        (connections, users, secrets): (
            Store<SnowflakeConnection>,
            Store<SnowflakeServiceUser>,
            Store<CachedSecret>,
        ),
        synced: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let connector = Connector::new(
            client.clone(),
            config.clock.clone(),
            config.snowflake.clone(),
        );
        let started = whole_seconds(config.clock.now());
        Self {
            events: super::events::Publisher::new(
                client.clone(),
                "snowflake-token-operator",
                &config.instance,
            ),
            client,
            config,
            metrics,
            connector,
            connections,
            users,
            secrets,
            synced,
            pending: Mutex::new(HashMap::new()),
            oauth_pending: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
            honoured: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            listings: Listings::default(),
            cluster_issuer: tokio::sync::OnceCell::new(),
            started,
        }
    }

    /// The issuer of the cluster's service-account tokens, discovered once (a failure is
    /// not remembered: the next reconcile asks again).
    pub async fn cluster_issuer(&self) -> Result<String, super::error::Error> {
        self.cluster_issuer
            .get_or_try_init(|| super::workload_identity::discover_issuer(&self.client))
            .await
            .cloned()
    }

    /// Resolves once every cache holds its initial list: before, a dependency missing
    /// from one may merely not be listed yet. Immediate after that (and if the caches'
    /// watcher is gone, at shutdown).
    pub async fn caches_synced(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|s| *s).await;
    }

    /// The current time, in whole seconds: what Kubernetes stores of a timestamp, so that
    /// a status computed twice from the same facts is equal (and not written again).
    pub fn now(&self) -> Timestamp {
        whole_seconds(self.config.clock.now())
    }

    /// Runs one Snowflake operation, recording its outcome and latency.
    pub async fn snowflake<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = crate::snowflake::Result<T>>,
    ) -> crate::snowflake::Result<T> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.category().as_str(),
        };
        self.metrics
            .snowflake_request(operation, outcome, started.elapsed().as_secs_f64());
        result
    }

    /// Publishes an event about `object`; a failure to publish is logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let reference: ObjectReference = object.object_ref(&());
        // What a person reads with `kubectl describe`, in the log too (events expire
        // after an hour; logs are what is searched the morning after).
        let kind = K::kind(&());
        let namespace = reference.namespace.as_deref().unwrap_or_default();
        let name = reference.name.as_deref().unwrap_or_default();
        if type_ == EventType::Warning {
            tracing::warn!(%kind, namespace, name, reason, "{note}");
        } else {
            tracing::info!(%kind, namespace, name, reason, "{note}");
        }
        let said = super::events::Said {
            type_,
            reason,
            action,
            note: &note,
        };
        if let Err(e) = self.events.publish(&reference, &said).await {
            tracing::warn!(
                object = reference.name.as_deref().unwrap_or_default(),
                namespace = reference.namespace.as_deref().unwrap_or_default(),
                reason,
                error = %e,
                "cannot publish event"
            );
        }
    }

    /// Stores a value the Secret does not hold yet.
    pub fn keep_pending(&self, uid: &str, value: PendingValue) {
        lock(&self.pending).insert(uid.to_owned(), value);
    }

    /// Takes the pending value of `uid`, if any.
    pub fn take_pending(&self, uid: &str) -> Option<PendingValue> {
        lock(&self.pending).remove(uid)
    }

    /// Keeps an OAuth answer not yet stored completely.
    pub fn keep_oauth_pending(&self, uid: &str, value: OAuthPending) {
        lock(&self.oauth_pending).insert(uid.to_owned(), value);
    }

    /// Takes the OAuth answer of `uid` not yet stored, if any.
    pub fn take_oauth_pending(&self, uid: &str) -> Option<OAuthPending> {
        lock(&self.oauth_pending).remove(uid)
    }

    /// Records that Snowflake refused the refresh token with digest `digest` as dead.
    pub fn refuse(&self, uid: &str, digest: &str) {
        lock(&self.refused).insert(uid.to_owned(), digest.to_owned());
    }

    /// The digest of the refresh token of `uid` Snowflake refused as dead, if any.
    pub fn refused(&self, uid: &str) -> Option<String> {
        lock(&self.refused).get(uid).cloned()
    }

    /// When the object `uid` was last compared with Snowflake, if since this process
    /// started.
    pub fn last_checked(&self, uid: &str) -> Option<Timestamp> {
        lock(&self.checked).get(uid).copied()
    }

    /// Forgets the last comparison with Snowflake: the next reconcile lists again.
    pub fn forget_checked(&self, uid: &str) {
        lock(&self.checked).remove(uid);
    }

    /// Records a comparison with Snowflake.
    pub fn mark_checked(&self, uid: &str, at: Timestamp) {
        lock(&self.checked).insert(uid.to_owned(), at);
    }

    /// Counts one more consecutive failure of `uid` and returns the count (in memory:
    /// tokens keep theirs in `status.failureCount`).
    pub fn failed_again(&self, uid: &str) -> u32 {
        let mut failures = lock(&self.failures);
        let count = failures.entry(uid.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    /// A retry after `failures` consecutive failures of `uid`, with the configured
    /// backoff (jittered per object).
    pub fn retry_after(&self, failures: u32, uid: &str) -> Action {
        Action::requeue(super::requeue::backoff(
            failures,
            self.config.backoff_base,
            self.config.backoff_max,
            uid,
        ))
    }

    /// Resets the failure count of `uid`.
    pub fn succeeded(&self, uid: &str) {
        lock(&self.failures).remove(uid);
    }

    /// Records the issue time of the value last written into the Secret of `uid`, to
    /// recognise a cached Secret that lags behind the operator's own write.
    pub fn mark_written(&self, uid: &str, issued_at: Timestamp) {
        lock(&self.written).insert(uid.to_owned(), issued_at);
    }

    /// The issue time of the value last written for `uid` by this process.
    pub fn last_written(&self, uid: &str) -> Option<Timestamp> {
        lock(&self.written).get(uid).copied()
    }

    /// Records the rotate request a new value of `uid` answered. The cached object may
    /// still carry the status from before (its update arrives after the Secret's), and a
    /// reconcile on it must not take the request for a new one.
    pub fn honour(&self, uid: &str, request: &str) {
        lock(&self.honoured).insert(uid.to_owned(), request.to_owned());
    }

    /// The rotate request this process last answered for `uid`.
    pub fn honoured(&self, uid: &str) -> Option<String> {
        lock(&self.honoured).get(uid).cloned()
    }

    /// Records the `resourceVersion` this process's last write of `uid` produced.
    pub fn wrote_version(&self, uid: &str, version: Option<&str>) {
        if let Some(version) = version.and_then(|v| v.parse::<u64>().ok()) {
            lock(&self.versions).insert(uid.to_owned(), version);
        }
    }

    /// Whether `object` is older than this process's last write of it: the watch has not
    /// delivered that write yet, and deciding on the cached copy would act on a status
    /// already superseded (a second rotation, a condition written back). Resource
    /// versions are etcd revisions; one that does not parse is taken as current.
    pub fn is_stale<K: Resource>(&self, object: &K) -> bool {
        let meta = object.meta();
        let (Some(uid), Some(cached)) = (
            meta.uid.as_deref(),
            meta.resource_version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok()),
        ) else {
            return false;
        };
        lock(&self.versions)
            .get(uid)
            .is_some_and(|ours| cached < *ours)
    }

    /// Forgets a deleted object's in-memory state.
    pub fn forget(&self, uid: &str) {
        lock(&self.written).remove(uid);
        lock(&self.versions).remove(uid);
        lock(&self.honoured).remove(uid);
        lock(&self.failures).remove(uid);
        lock(&self.checked).remove(uid);
        lock(&self.pending).remove(uid);
        lock(&self.oauth_pending).remove(uid);
        lock(&self.refused).remove(uid);
    }

    /// When this process started (by the operator's clock).
    pub fn started(&self) -> Timestamp {
        self.started
    }

    /// Convenience for warning events.
    pub async fn warn<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.event(object, EventType::Warning, reason, action, note)
            .await;
    }
}
