//! The three controllers and how they run together.
//!
//! Watches (all scoped to the configured namespace and label selector):
//! - `SnowflakeConnection`: the connection controller, plus a trigger for the users and
//!   tokens that reference a connection whose spec or readiness changed;
//! - `SnowflakeServiceUser`: the service-user controller, plus a trigger for its tokens;
//! - `SnowflakeToken`: the token controller;
//! - Secrets carrying the managed-by label only (never every Secret of the cluster): the
//!   cache the token controller reads its Secrets from, and the trigger that repairs an
//!   edited or deleted one.
//!
//! Each controller's own watch ignores changes to `status` (and to anything but the spec,
//! the rotate annotation and deletion), so a status write, for example a failure count,
//! never wakes the controller early: retries wait for the backoff the reconcile chose.
//! Cached objects are stripped of `managedFields` (Secrets keep only the operator's own
//! entry, which the Secret writer compares against, and are cached in the compact form of
//! [`secret::cache`]) to keep memory flat at scale.

pub mod announce;
pub mod connection;
pub mod connector;
pub mod context;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod leader;
pub mod listings;
pub mod pacer;
pub mod requeue;
pub mod rollout;
pub mod secret;
pub mod service_user;
pub mod status;
pub mod token;
pub mod workload_identity;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::controller::secret::cache::CachedSecret;
use futures::channel::mpsc;
use futures::{StreamExt, TryStreamExt};
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{WatchStreamExt, predicates};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

pub use context::{Config, Context};
pub use error::Error;

use crate::api::conditions::{READY, find};
use crate::api::keys::{
    REFRESH_TOKEN_FOR_LABEL, REVOKE_ANNOTATION, REVOKE_HOLD_ANNOTATION, ROTATE_ANNOTATION,
    TOKEN_LABEL, managed_by_selector,
};
use crate::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use crate::metrics::{Health, Metrics};

/// How long [`Running::stop`] waits for running reconciles.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// A running operator (in-process): ask it to re-examine everything, or stop it.
pub struct Running {
    resync: Vec<mpsc::UnboundedSender<()>>,
    synced: Arc<[AtomicBool; 4]>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Reconciles every resource now (as after a clock jump in tests, or `SIGHUP`).
    pub fn resync(&self) {
        for sender in &self.resync {
            let _ = sender.unbounded_send(());
        }
    }

    /// Stops the controllers after their running reconciles finish (at most
    /// [`STOP_GRACE`]). Before the caches synced nothing runs yet, and the controllers,
    /// which wait for their caches before anything else, are simply dropped.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if !self.synced.iter().all(|s| s.load(Ordering::SeqCst)) {
            self.task.abort();
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("reconciles still running after {STOP_GRACE:?}; stopping anyway");
            self.task.abort();
            let _ = self.task.await;
        }
    }

    /// Resolves when the controllers stopped (after [`Self::stop`], or a fatal error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

fn scoped<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What a controller reacts to on its own kind: the spec (generation), the rotate,
/// revoke and revoke-hold annotations and deletion; never status-only changes.
fn own_changes<K: Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key)).cloned();
    Some(hash_of((
        meta.generation,
        annotation(ROTATE_ANNOTATION),
        annotation(REVOKE_ANNOTATION),
        annotation(REVOKE_HOLD_ANNOTATION),
        meta.deletion_timestamp.is_some(),
    )))
}

/// What dependents react to: the spec and whether it is Ready for it.
fn readiness_changes<K: Resource>(
    object: &K,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    observed: Option<i64>,
) -> u64 {
    let ready = find(conditions, READY).map(|c| c.status.clone());
    hash_of((object.meta().generation, observed, ready))
}

fn conn_readiness(c: &SnowflakeConnection) -> u64 {
    let status = c.status.as_ref();
    readiness_changes(
        c,
        status.map_or(&[], |s| &s.conditions[..]),
        status.and_then(|s| s.observed_generation),
    )
}

fn user_readiness(u: &SnowflakeServiceUser) -> u64 {
    let status = u.status.as_ref();
    readiness_changes(
        u,
        status.map_or(&[], |s| &s.conditions[..]),
        status.and_then(|s| s.observed_generation),
    )
}

/// What no controller reads, dropped before caching: the managed fields, and the copy of
/// the whole object that `kubectl apply` (client-side) keeps in an annotation.
fn strip<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// `kubectl apply`'s record of the last applied object (client-side apply).
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn error_policy<K: Resource<DynamicType = ()>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let uid = object.meta().uid.clone().unwrap_or_default();
    let failures = ctx.failed_again(&uid);
    tracing::warn!(
        kind = %K::kind(&()),
        namespace = object.meta().namespace.as_deref().unwrap_or_default(),
        name = object.meta().name.as_deref().unwrap_or_default(),
        reason = error.reason().as_str(),
        error = %error,
        "reconcile failed"
    );
    ctx.retry_after(failures, &uid)
}

/// Records that a watch delivered its initial list. Readiness is observed this way, not
/// with `Store::wait_until_ready`: that readiness wakes a single waiter (kube-runtime's
/// DelayedInit keeps one waker), and the controllers wait on it themselves.
fn mark_synced<K>(synced: &AtomicBool, event: &watcher::Event<K>) {
    if matches!(event, watcher::Event::InitDone) {
        synced.store(true, Ordering::SeqCst);
    }
}

/// A watch of `K` in scope, cached in `writer`, without managed fields: its events.
fn reflecting<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    (synced, index): (Arc<[AtomicBool; 4]>, usize),
    mut announcer: Option<announce::Announcer<K>>,
) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(api, config)
        .default_backoff()
        .inspect_ok(move |event| mark_synced(&synced[index], event))
        .modify(strip)
        .reflect(writer)
        .inspect_ok(move |event| {
            if let Some(announcer) = &mut announcer {
                announcer.observe(event);
            }
        })
}

/// [`reflecting`], its objects with the initial list paced by `pacer` (see [`pacer`]).
fn reflected_paced<K>(
    api: Api<K>,
    config: watcher::Config,
    (store, writer): (Store<K>, reflector::store::Writer<K>),
    synced: (Arc<[AtomicBool; 4]>, usize),
    announcer: Option<announce::Announcer<K>>,
    pacer: Arc<pacer::Pacer>,
    changes: fn(&K) -> Option<u64>,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mut events = reflecting(api, config, writer, synced, announcer).boxed();
    // The watch is read by a task of its own, so the cache stays current while the
    // controller is busy: a controller polls its triggers only when a worker is free,
    // and other controllers read this cache (a token checks its user's readiness in it).
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { break };
                    if tx.send(event).is_err() {
                        break;
                    }
                }
                () = tx.closed() => break,
            }
        }
    });
    let received = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    })
    .boxed();
    pacer::paced(received, store, pacer, changes)
}

/// Starts the three controllers; they run until [`Running::stop`].
pub fn start(
    client: kube::Client,
    config: Config,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Running {
    let namespace = config.namespace.clone();
    let ns = namespace.as_deref();
    let mut ours = watcher::Config::default().any_semantic();
    if let Some(selector) = &config.label_selector {
        ours = ours.labels(selector);
    }
    let secrets_config = watcher::Config::default()
        .any_semantic()
        .labels(&managed_by_selector());

    let (connections, conn_writer) = reflector::store::<SnowflakeConnection>();
    let (users, user_writer) = reflector::store::<SnowflakeServiceUser>();
    let (tokens, token_writer) = reflector::store::<SnowflakeToken>();
    let (secrets, secret_writer) = reflector::store::<CachedSecret>();

    let synced: Arc<[AtomicBool; 4]> = Arc::default();

    // Dependents hear of a readiness change from the very stream that fills the cache
    // they read it from (see [`announce`]).
    let mut conn_announcer = announce::Announcer::new(conn_readiness);
    let conns_for_users = conn_announcer.listen();
    let conns_for_tokens = conn_announcer.listen();
    let mut user_announcer = announce::Announcer::new(user_readiness);
    let users_for_tokens = user_announcer.listen();
    let conn_stream = reflecting(
        scoped(&client, ns),
        ours.clone(),
        conn_writer,
        (synced.clone(), 0),
        Some(conn_announcer),
    )
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());
    // A few batches of the initial list ahead of the workers; new objects go first.
    let user_pacer = pacer::Pacer::new(usize::from(config.concurrency) * 2);
    let token_pacer = pacer::Pacer::new(usize::from(config.concurrency) * 2);
    let user_stream = reflected_paced(
        scoped(&client, ns),
        ours.clone(),
        (users.clone(), user_writer),
        (synced.clone(), 1),
        Some(user_announcer),
        user_pacer.clone(),
        own_changes,
    );
    let token_stream = reflected_paced(
        scoped(&client, ns),
        ours.clone(),
        (tokens.clone(), token_writer),
        (synced.clone(), 2),
        None,
        token_pacer.clone(),
        own_changes,
    );
    let secret_stream = watcher(scoped::<CachedSecret>(&client, ns), secrets_config)
        .default_backoff()
        .inspect_ok({
            let synced = synced.clone();
            move |event| mark_synced(&synced[3], event)
        })
        .reflect(secret_writer)
        .touched_objects();

    let (caches_synced, synced_rx) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.clone(),
        metrics,
        (connections.clone(), users.clone(), secrets.clone()),
        synced_rx,
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let controller_config = controller::Config::default().concurrency(config.concurrency);
    let (resync_conn, resync_conn_rx) = mpsc::unbounded();
    let (resync_user, resync_user_rx) = mpsc::unbounded();
    let (resync_token, resync_token_rx) = mpsc::unbounded();

    let connection_controller = Controller::for_stream(conn_stream, connections.clone())
        .with_config(controller_config.clone())
        .reconcile_all_on(resync_conn_rx)
        .graceful_shutdown_on(shutdown())
        .run(connection::reconcile, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));

    let by_connection = (users.clone(), user_pacer.clone());
    let user_controller = Controller::for_stream(user_stream, users.clone())
        .with_config(controller_config.clone())
        .reconcile_on(conns_for_users.flat_map(move |conn| {
            futures::stream::iter(dependents(&by_connection, &conn, |u| {
                &u.spec.connection_ref.name
            }))
        }))
        .reconcile_all_on(resync_user_rx)
        .graceful_shutdown_on(shutdown())
        .run(
            move |user, ctx| {
                let pacer = user_pacer.clone();
                async move {
                    // Its connection is read from the connections' cache: not before
                    // that cache holds them all (else "not found" for a moment).
                    ctx.caches_synced().await;
                    pacer.taken(&*user);
                    service_user::reconcile(user, ctx).await
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    let by_connection = (tokens.clone(), token_pacer.clone());
    let by_user = (tokens.clone(), token_pacer.clone());
    let waiting_tokens = token_pacer.clone();
    let dependency_changes = futures::stream::select(
        conns_for_tokens.flat_map(move |conn| {
            futures::stream::iter(dependents(&by_connection, &conn, |t| {
                &t.spec.connection_ref.name
            }))
        }),
        users_for_tokens.flat_map(move |user| {
            futures::stream::iter(dependents(&by_user, &user, |t| {
                t.spec
                    .user
                    .service_user_ref
                    .as_ref()
                    .map_or("", |r| r.name.as_str())
            }))
        }),
    );
    let token_controller = Controller::for_stream(token_stream, tokens.clone())
        .with_config(controller_config)
        .watches_stream(secret_stream, move |secret: CachedSecret| {
            let namespace = secret.namespace().unwrap_or_default();
            // The Secrets' own initial list names every token with a Secret: those still
            // in the tokens' initial list read their Secret in their turn.
            // A refresh-token Secret names the token it feeds: a person authorizing
            // again is served at once.
            secret
                .label(TOKEN_LABEL)
                .or_else(|| secret.label(REFRESH_TOKEN_FOR_LABEL))
                .filter(|name| !waiting_tokens.is_waiting(&namespace, name))
                .map(|name| ObjectRef::new(name).within(&namespace))
        })
        .reconcile_on(dependency_changes)
        .reconcile_all_on(resync_token_rx)
        .graceful_shutdown_on(shutdown())
        .run(
            move |token, ctx| {
                let pacer = token_pacer.clone();
                async move {
                    // Its connection, user and Secret are read from caches: not before
                    // they hold everything.
                    ctx.caches_synced().await;
                    pacer.taken(&*token);
                    token::reconcile(token, ctx).await
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    let watched = synced.clone();
    let readiness = async move {
        let synced = watched;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        while !synced.iter().all(|s| s.load(Ordering::SeqCst)) {
            tick.tick().await;
        }
        tracing::info!("caches synced; reconciling");
        let _ = caches_synced.send(true);
        health.set_ready(true);
    };
    let readiness = tokio::spawn(readiness);
    let task = tokio::spawn(async move {
        futures::future::join3(connection_controller, user_controller, token_controller).await;
        readiness.abort();
    });
    Running {
        resync: vec![resync_conn, resync_user, resync_token],
        synced,
        stop,
        task,
    }
}

/// The dependents (in `store`) of the object `of`: those of its namespace whose
/// reference (`name_of`) names it, but for those still waiting in the initial list. Their
/// turn comes after this news anyway; waking them now would rebuild the whole backlog in
/// front of a person's new token when every user of a cold start turns Ready.
fn dependents<D, O>(
    (store, pacer): &(Store<D>, Arc<pacer::Pacer>),
    of: &ObjectRef<O>,
    name_of: impl Fn(&D) -> &str,
) -> Vec<ObjectRef<D>>
where
    D: Resource<DynamicType = ()> + Clone,
    O: Resource<DynamicType = ()>,
{
    let namespace = of.namespace.as_deref().unwrap_or_default();
    store
        .state()
        .into_iter()
        .filter(|d| d.meta().namespace.as_deref().unwrap_or_default() == namespace)
        .filter(|d| name_of(d) == of.name)
        .filter(|d| !pacer.is_waiting(namespace, d.meta().name.as_deref().unwrap_or_default()))
        .map(|d| ObjectRef::from_obj(&*d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_objects_drop_managed_fields_and_the_client_side_apply_copy() {
        let mut token: SnowflakeToken = serde_json::from_value(serde_json::json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeToken",
            "metadata": {
                "name": "pbi",
                "annotations": {
                    LAST_APPLIED_ANNOTATION: "{\"spec\": {}}",
                    ROTATE_ANNOTATION: "2026-01-01T00:00:00Z",
                },
                "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            },
            "spec": {
                "connectionRef": {"name": "c"},
                "user": {"serviceUserRef": {"name": "u"}},
                "pat": {},
                "secret": {"name": "s"},
            },
        }))
        .expect("token");
        strip(&mut token);
        assert!(token.metadata.managed_fields.is_none());
        let annotations = token.annotations();
        assert!(!annotations.contains_key(LAST_APPLIED_ANNOTATION));
        assert!(annotations.contains_key(ROTATE_ANNOTATION), "ours stay");
    }
}
