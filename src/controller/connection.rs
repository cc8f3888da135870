//! `SnowflakeConnection`: load the key, authenticate, run `SELECT CURRENT_USER(),
//! CURRENT_ROLE()`, report `Ready` and the key's fingerprint.
//!
//! Re-checked every `connection_interval` (jittered): the key Secret is read again then,
//! so a key rotated in the Secret is picked up without a restart, and a revoked key or an
//! unreachable account shows on the connection rather than on each token.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::context::Context;
use super::error::{Error, Reason};
use super::{requeue, status};
use crate::api::conditions::{READY, find, reason};
use crate::api::{SnowflakeConnection, SnowflakeConnectionStatus};
use crate::snowflake::SnowflakeApi;

/// The controller's name in metrics.
pub const CONTROLLER: &str = "connection";
const KIND: &str = "SnowflakeConnection";

/// One reconcile.
pub async fn reconcile(conn: Arc<SnowflakeConnection>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = converge(&conn, &ctx).await;
    ctx.metrics.reconciled(CONTROLLER, result.is_ok(), started);
    result
}

async fn converge(conn: &SnowflakeConnection, ctx: &Context) -> Result<Action, Error> {
    let now = ctx.now();
    let namespace = conn.metadata.namespace.clone().unwrap_or_default();
    let name = conn.metadata.name.clone().unwrap_or_default();
    let uid = conn.metadata.uid.clone().unwrap_or_default();
    let generation = conn.metadata.generation;
    let current = conn.status.clone();
    let mut next = current.clone().unwrap_or_default();
    next.observed_generation = generation;

    let outcome = match ctx.connector.load(conn).await {
        Ok(connected) => {
            next.public_key_fingerprint = Some(connected.fingerprint.clone());
            ctx.snowflake("verify_identity", connected.api.verify_identity())
                .await
                .map_err(|e| {
                    Error::snowflake("authenticating and running SELECT CURRENT_USER()", e)
                })
        }
        Err(e) => Err(e),
    };
    let was_ready = current
        .as_ref()
        .and_then(|s| find(&s.conditions, READY))
        .map(|c| (c.status.clone(), c.reason.clone()));
    let action = match &outcome {
        Ok(identity) => {
            let message = format!(
                "authenticated as {} with role {}",
                identity.user,
                identity.role.as_deref().unwrap_or("(none)")
            );
            status::ready(
                &mut next.conditions,
                reason::VERIFIED,
                message,
                generation,
                now,
            );
            ctx.metrics.set_ready(KIND, &namespace, &name, true);
            ctx.succeeded(&uid);
            Action::requeue(
                ctx.config.connection_interval
                    + requeue::spread(&uid, "connection", ctx.config.connection_interval / 10),
            )
        }
        Err(error) => {
            status::not_ready(&mut next.conditions, error, generation, now);
            ctx.metrics.set_ready(KIND, &namespace, &name, false);
            ctx.metrics.failed(CONTROLLER, error.reason().as_str());
            tracing::warn!(%namespace, %name, reason = error.reason().as_str(), error = %error, "connection not ready");
            let failures = ctx.failed_again(&uid);
            if error.is_transient() {
                ctx.retry_after(failures, &uid)
            } else {
                // Permanent until something changes: the spec (watched) or the key Secret
                // (re-read at the next periodic check).
                Action::requeue(ctx.config.connection_interval)
            }
        }
    };
    let now_ready = find(&next.conditions, READY).map(|c| (c.status.clone(), c.reason.clone()));
    status::write(&ctx.client, conn, current.as_ref(), &next).await?;
    if now_ready != was_ready {
        match &outcome {
            Ok(_) => {
                ctx.event(
                    conn,
                    EventType::Normal,
                    reason::VERIFIED,
                    "Verify",
                    "authenticated to Snowflake".into(),
                )
                .await
            }
            Err(error) => {
                ctx.warn(conn, error.reason().as_str(), "Verify", error.to_string())
                    .await
            }
        }
    }
    Ok(action)
}

/// The connection `name` of `namespace` from the cache, if it is Ready for its spec; else
/// the `ConnectionNotReady` error its dependents report.
pub fn ready(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Arc<SnowflakeConnection>, Error> {
    let not_ready = |state: String, pending: bool| Error::Dependency {
        reason: Reason::ConnectionNotReady,
        kind: "SnowflakeConnection",
        name: name.to_owned(),
        state,
        pending,
    };
    let conn = ctx
        .connections
        .get(&ObjectRef::new(name).within(namespace))
        .ok_or_else(|| not_ready("not found in this namespace".into(), false))?;
    if !is_ready(&conn) {
        return Err(not_ready(not_ready_message(&conn), is_pending(&conn)));
    }
    Ok(conn)
}

/// Whether a connection is usable by the resources that reference it: `Ready=True` for
/// its current spec.
pub fn is_ready(conn: &SnowflakeConnection) -> bool {
    conn.status
        .as_ref()
        .is_some_and(|s: &SnowflakeConnectionStatus| {
            s.observed_generation == conn.metadata.generation
                && crate::api::conditions::is_true(&s.conditions, READY)
        })
}

/// Whether a connection has no verdict yet for its current spec.
pub fn is_pending(conn: &SnowflakeConnection) -> bool {
    conn.status.as_ref().is_none_or(|s| {
        s.observed_generation != conn.metadata.generation || find(&s.conditions, READY).is_none()
    })
}

/// The Ready message of a connection that is not ready, for the resources waiting on it.
pub fn not_ready_message(conn: &SnowflakeConnection) -> String {
    conn.status
        .as_ref()
        .and_then(|s| find(&s.conditions, READY))
        .map_or_else(
            || "has not been verified yet".to_owned(),
            |c| format!("is not Ready ({}: {})", c.reason, c.message),
        )
}
