//! The operator's finalizer (present only on resources whose `deletionPolicy` is
//! `Delete`) and the client used for cleanup, which must never wedge a deletion.

use std::fmt::Debug;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::connector::Connected;
use super::context::Context;
use super::error::Error;
use crate::api::SnowflakeConnection;
use kube::runtime::reflector::ObjectRef;

/// The finalizer that holds a resource until its Snowflake object is removed.
pub const FINALIZER: &str = "snowflake-token-operator.io/cleanup";

/// Whether `object` carries the finalizer.
pub fn has<K: Resource>(object: &K) -> bool {
    object
        .meta()
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

/// Adds or removes the finalizer (a JSON merge patch guarded by the resourceVersion read,
/// so a concurrent change of the list is never overwritten).
pub async fn set<K>(client: &kube::Client, object: &K, present: bool) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let mut finalizers: Vec<String> = object.finalizers().to_vec();
    finalizers.retain(|f| f != FINALIZER);
    if present {
        finalizers.push(FINALIZER.to_owned());
    }
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": object.resource_version(),
        }
    });
    match api
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing to hold any more.
        Err(kube::Error::Api(status)) if status.code == 404 && !present => Ok(()),
        Err(e) => Err(Error::kube(
            format!(
                "{} the finalizer of {} {}",
                if present { "adding" } else { "removing" },
                K::kind(&()),
                object.name_any()
            ),
            e,
        )),
    }
}

/// The client to clean up with, or why there is none (then cleanup gives up with an
/// event instead of holding the resource forever).
pub enum CleanupClient {
    /// A client of the connection (possibly the last one built, if the connection itself
    /// is already gone).
    Available {
        /// The client.
        client: Arc<Connected>,
        /// Whether the connection is gone or being deleted too (a namespace being
        /// deleted): one attempt is made, and a failure gives up instead of retrying.
        connection_leaving: bool,
    },
    /// No client can be built.
    Unavailable(String),
}

/// How long a deletion waits for Snowflake to become reachable before the resource is
/// released anyway (with an event naming what to remove by hand).
pub const CLEANUP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// How long the last attempt of a cleanup may take. The client's own retry budget (a
/// minute and more of backoff against an unreachable account) is meant for a resource that
/// stays; a namespace being deleted should not wait that long per object for a Snowflake
/// that is gone, so the attempt is cut off here and the resource released with the
/// by-hand event.
pub const LAST_ATTEMPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Whether cleanup of `object` should be tried once and then given up on: its namespace is
/// being deleted (the connection and its key go with it), or it has waited longer than
/// [`CLEANUP_PATIENCE`]. Deletion times are wall-clock times of the API server.
pub async fn last_attempt<K: Resource>(ctx: &Context, object: &K) -> bool {
    let waited_too_long = object.meta().deletion_timestamp.as_ref().is_some_and(|at| {
        jiff::Timestamp::now().duration_since(at.0)
            > jiff::SignedDuration::try_from(CLEANUP_PATIENCE).unwrap_or_default()
    });
    if waited_too_long {
        return true;
    }
    // Reading the namespace needs a ClusterRole; without one (single-namespace mode) the
    // patience above still bounds the wait.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
    match namespaces
        .get_opt(object.meta().namespace.as_deref().unwrap_or_default())
        .await
    {
        Ok(Some(ns)) => ns.metadata.deletion_timestamp.is_some(),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Finds the client for cleaning up a resource of `namespace` referencing `connection`.
pub async fn cleanup_client(ctx: &Context, namespace: &str, connection: &str) -> CleanupClient {
    let conn: Option<Arc<SnowflakeConnection>> = ctx
        .connections
        .get(&ObjectRef::new(connection).within(namespace));
    let leaving = conn
        .as_ref()
        .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
    if let Some(conn) = conn.filter(|c| c.metadata.deletion_timestamp.is_none()) {
        match ctx.connector.get(&conn).await {
            Ok(client) => {
                return CleanupClient::Available {
                    client,
                    connection_leaving: false,
                };
            }
            Err(e) => {
                if let Some(client) = ctx.connector.last_known(namespace, connection) {
                    return CleanupClient::Available {
                        client,
                        connection_leaving: true,
                    };
                }
                return CleanupClient::Unavailable(format!(
                    "SnowflakeConnection {connection} cannot be used ({e})"
                ));
            }
        }
    }
    match ctx.connector.last_known(namespace, connection) {
        Some(client) => CleanupClient::Available {
            client,
            connection_leaving: leaving,
        },
        None => CleanupClient::Unavailable(format!(
            "SnowflakeConnection {connection} is gone, so Snowflake cannot be reached"
        )),
    }
}

/// What a deletion removes in Snowflake, in the words of its events.
pub struct Removal<'a> {
    /// The object, as in "token PBI of user BI" or "user BI".
    pub what: &'a str,
    /// "remove" or "drop".
    pub verb: &'a str,
    /// "removing" or "dropping".
    pub doing: &'a str,
    /// "removed" or "dropped".
    pub done: &'a str,
    /// The reason of the event after success ("Revoked", "Dropped").
    pub reason: &'static str,
    /// The statement a person runs when the operator gives up.
    pub by_hand: String,
}

/// Removes what a deleted `object` (referencing `connection`) holds in Snowflake with
/// `remove`, which returns a detail for the success event. Returns the retry when
/// Snowflake should be tried again (a transient failure while the connection stays), and
/// `None` when the finalizer may go: removed, or given up with a `CleanupAbandoned`
/// event naming what to remove by hand.
pub async fn remove_in_snowflake<K, F, Fut>(
    ctx: &Context,
    object: &K,
    connection: &str,
    removal: &Removal<'_>,
    remove: F,
) -> Option<kube::runtime::controller::Action>
where
    K: Resource<DynamicType = ()>,
    F: FnOnce(Arc<Connected>) -> Fut,
    Fut: std::future::Future<Output = crate::snowflake::Result<String>>,
{
    use kube::runtime::events::EventType;
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    let uid = object.meta().uid.clone().unwrap_or_default();
    let Removal {
        what,
        verb,
        doing,
        done,
        reason,
        by_hand,
    } = removal;
    let (client, connection_leaving) = match cleanup_client(ctx, &namespace, connection).await {
        CleanupClient::Available {
            client,
            connection_leaving,
        } => (client, connection_leaving),
        CleanupClient::Unavailable(why) => {
            ctx.warn(
                object,
                "CleanupAbandoned",
                "Delete",
                format!("{what} was not {done}: {why}; {verb} it in Snowflake by hand ({by_hand})"),
            )
            .await;
            return None;
        }
    };
    let last_attempt = connection_leaving || last_attempt(ctx, object).await;
    let outcome = if last_attempt {
        tokio::time::timeout(LAST_ATTEMPT_LIMIT, remove(client))
            .await
            .unwrap_or(Err(crate::snowflake::Error::Timeout {
                what: "the last cleanup attempt",
                after: LAST_ATTEMPT_LIMIT,
            }))
    } else {
        remove(client).await
    };
    match outcome {
        Ok(detail) => {
            ctx.event(
                object,
                EventType::Normal,
                reason,
                "Delete",
                format!("{what} {done} in Snowflake{detail}"),
            )
            .await;
            None
        }
        Err(e) if e.is_transient() && !last_attempt => {
            let error = Error::snowflake(format!("{doing} {what}"), e);
            ctx.warn(object, error.reason().as_str(), "Delete", error.to_string())
                .await;
            let failures = ctx.failed_again(&uid);
            Some(ctx.retry_after(failures, &uid))
        }
        Err(e) => {
            ctx.warn(
                object,
                "CleanupAbandoned",
                "Delete",
                format!(
                    "{what} could not be {done} ({e}); the resource is released anyway: {verb} it in Snowflake by hand ({by_hand})"
                ),
            )
            .await;
            None
        }
    }
}
