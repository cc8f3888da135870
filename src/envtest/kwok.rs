//! kwok and one simulated node: pods scheduled on it become Running and Ready without a
//! container runtime, so Deployments become Available and rollouts complete.

use std::path::Path;
use std::time::Instant;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::processes::spawn;
use super::reaper::Reaper;
use super::wait;

/// kwok's stages: how pods on the simulated node become Running and Ready.
const STAGES: &str = include_str!("kwok-stages.yaml");

/// The simulated node's name.
pub const NODE_NAME: &str = "kwok-node-0";

/// Starts kwok managing only nodes annotated `kwok.x-k8s.io/node: fake`.
pub fn start(
    reaper: &mut Reaper,
    logs: &Path,
    kwok: &Path,
    kubeconfig: &Path,
) -> Result<(), String> {
    let stages = logs.with_file_name("kwok-stages.yaml");
    std::fs::write(&stages, STAGES).map_err(|e| format!("{}: {e}", stages.display()))?;
    spawn(
        reaper,
        logs,
        "kwok",
        kwok,
        &[
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--config={}", stages.display()),
            "--manage-all-nodes=false".into(),
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
            "--cidr=10.0.0.1/24".into(),
            "--node-ip=10.0.0.1".into(),
            "--server-address=127.0.0.1:0".into(),
        ],
    )?;
    Ok(())
}

/// Creates the node, waits until kwok reports it Ready, and lifts the `not-ready` taint
/// the API server put on it (no node-lifecycle controller runs to do that).
pub async fn add_node(client: &kube::Client, deadline: Instant) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": NODE_NAME},
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        },
    }))
    .map_err(|e| format!("node manifest: {e}"))?;
    nodes
        .create(&PostParams::default(), &node)
        .await
        .map_err(|e| format!("cannot create node {NODE_NAME}: {e}"))?;
    let ready = wait::until(deadline, || async {
        let node = nodes.get(NODE_NAME).await.ok()?;
        let ready = node
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(())
    })
    .await;
    ready.ok_or_else(|| format!("kwok did not make node {NODE_NAME} Ready"))?;
    let untaint = serde_json::json!({"spec": {"taints": null}});
    nodes
        .patch(NODE_NAME, &PatchParams::default(), &Patch::Merge(&untaint))
        .await
        .map_err(|e| format!("cannot remove the taints of node {NODE_NAME}: {e}"))?;
    Ok(())
}
