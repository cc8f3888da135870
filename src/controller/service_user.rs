//! `SnowflakeServiceUser`: create the `TYPE = SERVICE` user, converge its properties,
//! network policy and granted roles, repair drift at every periodic check, and drop the
//! user on delete when `deletionPolicy: Delete`.
//!
//! Roles: the operator grants the roles in `spec.roles` and revokes only roles it granted
//! before (`status.grantedRoles`) that left the list; grants made by others stay.
//! A user of the same name that is not `TYPE = SERVICE` is never adopted.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::connection;
use super::context::Context;
use super::error::Error;
use super::finalizer;
use super::{requeue, status, workload_identity};
use crate::api::conditions::{READY, find, reason};
use crate::api::service_user::WorkloadIdentityStatus;
use crate::api::{DeletionPolicy, SnowflakeServiceUser, SnowflakeServiceUserStatus};
use crate::snowflake::{SnowflakeApi, UserChanges};

/// The controller's name in metrics.
pub const CONTROLLER: &str = "serviceuser";
const KIND: &str = "SnowflakeServiceUser";

/// One reconcile.
pub async fn reconcile(
    user: Arc<SnowflakeServiceUser>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = if user.metadata.deletion_timestamp.is_some() {
        clean_up(&user, &ctx).await
    } else {
        converge(&user, &ctx).await
    };
    ctx.metrics.reconciled(CONTROLLER, result.is_ok(), started);
    result
}

async fn converge(user: &SnowflakeServiceUser, ctx: &Context) -> Result<Action, Error> {
    let wants_finalizer = user.spec.deletion_policy == DeletionPolicy::Delete;
    if finalizer::has(user) != wants_finalizer {
        finalizer::set(&ctx.client, user, wants_finalizer).await?;
    }
    let now = ctx.now();
    let namespace = user.metadata.namespace.clone().unwrap_or_default();
    let name = user.metadata.name.clone().unwrap_or_default();
    let uid = user.metadata.uid.clone().unwrap_or_default();
    let generation = user.metadata.generation;
    let current = user.status.clone();
    let mut next = current.clone().unwrap_or_default();
    next.observed_generation = generation;
    let mut desired = user.desired_user();
    next.user_name = Some(desired.name.clone());

    let outcome = apply(user, ctx, &mut desired, current.as_ref()).await;
    if let Err(error) = &outcome
        && error.is_pending_dependency()
    {
        // The connection is still being verified; its verdict wakes this user.
        tracing::debug!(%namespace, %name, error = %error, "service user waiting for its connection");
        return Ok(Action::requeue(super::token::PENDING_RECHECK));
    }
    let was = ready_state(current.as_ref());
    let action = match &outcome {
        Ok((changes, trust)) => {
            next.workload_identity = trust.clone();
            next.granted_roles = desired.roles.clone();
            next.granted_roles.sort();
            next.granted_roles.dedup();
            status::ready(
                &mut next.conditions,
                reason::CONVERGED,
                format!("user {} matches the spec", desired.name),
                generation,
                now,
            );
            ctx.metrics.set_ready(KIND, &namespace, &name, true);
            ctx.succeeded(&uid);
            if !changes.is_empty() {
                tracing::info!(%namespace, %name, user = %desired.name, changes = %describe(changes), "service user converged");
            }
            Action::requeue(
                ctx.config.drift_interval
                    + requeue::spread(&uid, "drift", ctx.config.drift_interval / 10),
            )
        }
        Err(error) => {
            status::not_ready(&mut next.conditions, error, generation, now);
            ctx.metrics.set_ready(KIND, &namespace, &name, false);
            ctx.metrics.failed(CONTROLLER, error.reason().as_str());
            if error.event_type() == EventType::Warning {
                tracing::warn!(%namespace, %name, reason = error.reason().as_str(), error = %error, "service user not converged");
            } else {
                tracing::info!(%namespace, %name, reason = error.reason().as_str(), error = %error, "service user waiting");
            }
            let failures = ctx.failed_again(&uid);
            if error.is_transient() {
                ctx.retry_after(failures, &uid)
            } else {
                Action::requeue(ctx.config.drift_interval)
            }
        }
    };
    status::write(&ctx.client, user, current.as_ref(), &next).await?;
    match &outcome {
        Ok((changes, _)) if !changes.is_empty() => {
            let (reason, note) = if changes.created {
                let granted = if changes.roles_granted.is_empty() {
                    String::new()
                } else {
                    format!(", granted {}", changes.roles_granted.join(", "))
                };
                ("Created", format!("user {} created{granted}", desired.name))
            } else {
                (
                    "Converged",
                    format!("user {} updated: {}", desired.name, describe(changes)),
                )
            };
            ctx.event(user, EventType::Normal, reason, "Converge", note)
                .await;
        }
        Err(error) if ready_state(Some(&next)) != was => {
            ctx.event(
                user,
                error.event_type(),
                error.reason().as_str(),
                "Converge",
                error.to_string(),
            )
            .await;
        }
        _ => {}
    }
    Ok(action)
}

fn ready_state(status: Option<&SnowflakeServiceUserStatus>) -> Option<(String, String)> {
    status
        .and_then(|s| find(&s.conditions, READY))
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Converges the user in Snowflake, then the ConfigMap of its workload identity
/// consumers; returns what changed and the trust now in force.
async fn apply(
    user: &SnowflakeServiceUser,
    ctx: &Context,
    desired: &mut crate::snowflake::DesiredUser,
    current: Option<&SnowflakeServiceUserStatus>,
) -> Result<(UserChanges, Option<WorkloadIdentityStatus>), Error> {
    let namespace = user.metadata.namespace.clone().unwrap_or_default();
    let conn_name = &user.spec.connection_ref.name;
    let conn = connection::ready(ctx, &namespace, conn_name)?;
    // Known before anything is converged: without it the identities would be removed.
    let issuer = match &user.spec.workload_identity {
        Some(spec) => Some(workload_identity::issuer(ctx, spec).await?),
        None => None,
    };
    if let Some(issuer) = &issuer {
        desired.workload_identities = user.desired_identities(issuer);
    }
    // Identities set up before and dropped from the spec since are removed.
    desired.manage_workload_identities |= current.is_some_and(|s| s.workload_identity.is_some());
    let client = ctx.connector.get(&conn).await?;
    let previously = current.map(|s| s.granted_roles.clone()).unwrap_or_default();
    let changes = ctx
        .snowflake(
            "converge_service_user",
            client.api.converge_service_user(desired, &previously),
        )
        .await
        .map_err(|e| Error::snowflake(format!("converging user {}", desired.name), e))?;

    let resource_name = user.metadata.name.clone().unwrap_or_default();
    let written = current
        .and_then(|s| s.workload_identity.as_ref())
        .and_then(|w| w.config_map.clone());
    let (Some(spec), Some(issuer)) = (&user.spec.workload_identity, issuer) else {
        if let Some(old) = written {
            workload_identity::remove_config_map(ctx, user, &old).await?;
        }
        return Ok((changes, None));
    };
    let config_map = spec.config_map_name(&resource_name);
    let account = workload_identity::connection_account(&conn)?;
    let data = workload_identity::consumer_settings(
        &account,
        &conn.spec.account,
        &desired.name,
        spec,
        desired.default_role.as_deref(),
        desired.default_warehouse.as_deref(),
    );
    workload_identity::write_config_map(ctx, user, &config_map, data).await?;
    if let Some(old) = written.filter(|old| *old != config_map) {
        workload_identity::remove_config_map(ctx, user, &old).await?;
    }
    let mut audiences = spec.audiences.clone();
    if audiences.is_empty() {
        audiences.push(crate::snowflake::DEFAULT_OIDC_AUDIENCE.to_owned());
    }
    Ok((
        changes,
        Some(WorkloadIdentityStatus {
            issuer,
            subjects: desired
                .workload_identities
                .iter()
                .map(|w| w.subject.clone())
                .collect(),
            audiences,
            identities: desired
                .workload_identities
                .iter()
                .map(|w| w.name.clone())
                .collect(),
            config_map: Some(config_map),
        }),
    ))
}

fn describe(changes: &UserChanges) -> String {
    let mut parts = Vec::new();
    if changes.created {
        parts.push("created".to_owned());
    }
    if !changes.properties_set.is_empty() && !changes.created {
        parts.push(format!("set {}", changes.properties_set.join(", ")));
    }
    if !changes.properties_unset.is_empty() {
        parts.push(format!("unset {}", changes.properties_unset.join(", ")));
    }
    if !changes.roles_granted.is_empty() {
        parts.push(format!("granted {}", changes.roles_granted.join(", ")));
    }
    if !changes.roles_revoked.is_empty() {
        parts.push(format!("revoked {}", changes.roles_revoked.join(", ")));
    }
    if !changes.identities_added.is_empty() {
        parts.push(format!(
            "added workload identity {}",
            changes.identities_added.join(", ")
        ));
    }
    if !changes.identities_removed.is_empty() {
        parts.push(format!(
            "removed workload identity {}",
            changes.identities_removed.join(", ")
        ));
    }
    parts.join("; ")
}

async fn clean_up(user: &SnowflakeServiceUser, ctx: &Context) -> Result<Action, Error> {
    let namespace = user.metadata.namespace.clone().unwrap_or_default();
    let name = user.metadata.name.clone().unwrap_or_default();
    let uid = user.metadata.uid.clone().unwrap_or_default();
    if !finalizer::has(user) {
        return Ok(Action::await_change());
    }
    if user.spec.deletion_policy == DeletionPolicy::Delete {
        let snowflake_name = user.snowflake_user_name();
        let removal = finalizer::Removal {
            what: &format!("user {snowflake_name}"),
            verb: "drop",
            doing: "dropping",
            done: "dropped",
            reason: "Dropped",
            by_hand: format!("DROP USER {snowflake_name}"),
        };
        let retry = finalizer::remove_in_snowflake(
            ctx,
            user,
            &user.spec.connection_ref.name,
            &removal,
            |client| async move {
                ctx.snowflake("drop_user", client.api.drop_user(&snowflake_name))
                    .await
                    .map(|()| String::new())
            },
        )
        .await;
        if let Some(retry) = retry {
            return Ok(retry);
        }
    }
    finalizer::set(&ctx.client, user, false).await?;
    ctx.metrics.forget(KIND, &namespace, &name);
    ctx.forget(&uid);
    Ok(Action::await_change())
}
