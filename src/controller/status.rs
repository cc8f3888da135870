//! Writing `status`: only when it changed, with server-side apply under the operator's
//! field manager (fields it no longer sets are removed).

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Error, remedy};
use crate::api::FIELD_MANAGER;
use crate::api::conditions::{READY, new_condition, set_condition};

/// Applies `status` to `object` when it differs from `current`. Returns the object's new
/// `resourceVersion` when it wrote.
pub async fn write<K, S>(
    client: &kube::Client,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<Option<String>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize + PartialEq,
{
    // Compared as Kubernetes stores them: timestamps in whole seconds.
    let unchanged = current.is_some_and(|current| {
        current == status || serde_json::to_value(current).ok() == serde_json::to_value(status).ok()
    });
    if unchanged {
        return Ok(None);
    }
    if tracing::enabled!(tracing::Level::TRACE) {
        tracing::trace!(
            kind = %K::kind(&()),
            name = %object.name_any(),
            from = %serde_json::to_string(&current).unwrap_or_default(),
            to = %serde_json::to_string(status).unwrap_or_default(),
            "status changed"
        );
    }
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let written = api
        .patch_status(
            &object.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|e| {
            Error::kube(
                format!(
                    "writing the status of {} {}",
                    K::kind(&()),
                    object.name_any()
                ),
                e,
            )
        })?;
    Ok(written.resource_version())
}

/// Sets `Ready=True` with `reason` and `message`.
pub fn ready(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    set_condition(
        conditions,
        new_condition(READY, true, reason, message, generation, Time(now)),
    );
}

/// Sets `Ready=False` from `error`, its message followed by the remedy.
pub fn not_ready(
    conditions: &mut Vec<Condition>,
    error: &Error,
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    let reason = error.reason();
    set_condition(
        conditions,
        new_condition(
            READY,
            false,
            reason.as_str(),
            format!("{error}; {}", remedy(reason)),
            generation,
            Time(now),
        ),
    );
}

/// Sets `Ready=False` with an explicit reason and message.
pub fn not_ready_because(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    set_condition(
        conditions,
        new_condition(READY, false, reason, message, generation, Time(now)),
    );
}
