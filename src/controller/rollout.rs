//! Restarting the workloads of `rolloutRestartTargets` after a new value was written, the
//! way `kubectl rollout restart` does: a pod-template annotation change.
//!
//! The annotation's value is the issue time of the new credential, so the patch is made
//! at most once per value: a target already annotated with it is left alone (an operator
//! restart, a repeated reconcile or a retried write never rolls a workload again).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;

use crate::api::keys::RESTARTED_AT_ANNOTATION;
use crate::api::{RolloutKind, RolloutTarget};

/// What happened to one target.
#[derive(Debug)]
pub enum Restart {
    /// Patched: its pods are being replaced.
    Restarted,
    /// Already restarted for this value.
    AlreadyDone,
    /// The workload does not exist.
    Missing,
    /// The API refused or failed.
    Failed(kube::Error),
}

/// Restarts `target` in `namespace` for the credential issued at `issued_at`.
pub async fn restart(
    client: &kube::Client,
    namespace: &str,
    target: &RolloutTarget,
    issued_at: &str,
) -> Restart {
    match target.kind {
        RolloutKind::Deployment => {
            restart_kind::<Deployment>(client, namespace, &target.name, issued_at, |d| {
                d.spec
                    .as_ref()?
                    .template
                    .metadata
                    .as_ref()?
                    .annotations
                    .clone()
            })
            .await
        }
        RolloutKind::StatefulSet => {
            restart_kind::<StatefulSet>(client, namespace, &target.name, issued_at, |s| {
                s.spec
                    .as_ref()?
                    .template
                    .metadata
                    .as_ref()?
                    .annotations
                    .clone()
            })
            .await
        }
        RolloutKind::DaemonSet => {
            restart_kind::<DaemonSet>(client, namespace, &target.name, issued_at, |d| {
                d.spec
                    .as_ref()?
                    .template
                    .metadata
                    .as_ref()?
                    .annotations
                    .clone()
            })
            .await
        }
    }
}

async fn restart_kind<K>(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    issued_at: &str,
    annotations: impl Fn(&K) -> Option<std::collections::BTreeMap<String, String>>,
) -> Restart
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let current = match api.get_opt(name).await {
        Ok(Some(current)) => current,
        Ok(None) => return Restart::Missing,
        Err(e) => return Restart::Failed(e),
    };
    if annotations(&current)
        .as_ref()
        .and_then(|a| a.get(RESTARTED_AT_ANNOTATION))
        .is_some_and(|v| v == issued_at)
    {
        return Restart::AlreadyDone;
    }
    let patch = serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: issued_at}}}}
    });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Restart::Restarted,
        Err(kube::Error::Api(status)) if status.code == 404 => Restart::Missing,
        Err(e) => Restart::Failed(e),
    }
}
