//! What the operator relies on from Kubernetes, proven on a full control plane
//! (controller-manager, scheduler, kwok node): server-side apply of Secrets with the
//! operator's field manager, garbage collection of owned Secrets, Deployment rollouts,
//! RBAC.

mod support;

#[path = "control_plane/rbac.rs"]
mod rbac;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use snowflake_token_operator::api::{FIELD_MANAGER, SnowflakeToken};
use support::{ControlPlane, Options, TestNamespace, control_plane, kubectl_ok, wait_for};

use snowflake_token_operator::api::keys::MANAGED_BY_LABEL as MANAGED_BY;

fn plane() -> &'static ControlPlane {
    control_plane(Options::FULL)
}

async fn create_token(client: &kube::Client, ns: &str, name: &str) -> SnowflakeToken {
    Api::<SnowflakeToken>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &support::pat_token(name, json!({})))
        .await
        .expect("token created")
}

/// The Secret as the operator applies it: owned by the token, labelled, with the token.
fn operator_secret(token: &SnowflakeToken, password: &str) -> Secret {
    let owner = OwnerReference {
        controller: Some(true),
        block_owner_deletion: Some(true),
        ..token.controller_owner_ref(&()).expect("token has a uid")
    };
    let mut secret = Secret::default();
    secret.metadata.name = Some(token.secret_name());
    secret.metadata.owner_references = Some(vec![owner]);
    secret.metadata.labels = Some(BTreeMap::from([(MANAGED_BY.into(), FIELD_MANAGER.into())]));
    secret.data = Some(BTreeMap::from([
        ("username".into(), ByteString(b"BI_SVC".to_vec())),
        ("password".into(), ByteString(password.as_bytes().to_vec())),
    ]));
    secret
}

fn apply_as(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

#[tokio::test]
async fn server_side_apply_of_a_secret_with_the_operator_field_manager() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "ssa").await;
    let client = plane.client().await;
    let token = create_token(&client, ns.name(), "bi").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let name = token.secret_name();

    let first = secrets
        .patch(
            &name,
            &apply_as(FIELD_MANAGER),
            &Patch::Apply(operator_secret(&token, "pat-1")),
        )
        .await
        .expect("operator applies the Secret");
    assert_eq!(
        first.labels().get(MANAGED_BY).map(String::as_str),
        Some(FIELD_MANAGER)
    );
    let owner = &first.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("SnowflakeToken", "bi")
    );
    let managers: Vec<_> = first
        .managed_fields()
        .iter()
        .filter_map(|f| f.manager.clone())
        .collect();
    assert_eq!(managers, [FIELD_MANAGER]);

    // Re-applying the same desired state is a no-op: no new resourceVersion, no watch event.
    let again = secrets
        .patch(
            &name,
            &apply_as(FIELD_MANAGER),
            &Patch::Apply(operator_secret(&token, "pat-1")),
        )
        .await
        .expect("re-apply");
    assert_eq!(again.resource_version(), first.resource_version());

    // Another manager may add fields the operator does not own; they survive re-applies.
    let annotate = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "annotations": {"team": "bi"}},
    });
    secrets
        .patch(
            &name,
            &apply_as("kubectl-annotate"),
            &Patch::Apply(&annotate),
        )
        .await
        .expect("other manager adds an annotation");

    // A conflicting change to a field the operator owns is refused without force...
    let overwrite = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "data": {"password": "aGFuZC1lZGl0ZWQ="},
    });
    let conflict = secrets
        .patch(&name, &apply_as("someone-else"), &Patch::Apply(&overwrite))
        .await
        .expect_err("conflicting apply is refused");
    assert!(
        matches!(&conflict, kube::Error::Api(s) if s.code == 409),
        "expected a 409 conflict, got {conflict}"
    );
    // ...and taken over with force, as a person editing the Secret would do.
    secrets
        .patch(
            &name,
            &apply_as("someone-else").force(),
            &Patch::Apply(&overwrite),
        )
        .await
        .expect("forced apply takes the field");

    // The operator repairs its Secret with a forced apply of its desired state.
    let repaired = secrets
        .patch(
            &name,
            &apply_as(FIELD_MANAGER).force(),
            &Patch::Apply(operator_secret(&token, "pat-2")),
        )
        .await
        .expect("operator repairs the Secret");
    let data = repaired.data.clone().unwrap_or_default();
    assert_eq!(data.get("password"), Some(&ByteString(b"pat-2".to_vec())));
    assert_eq!(
        repaired.annotations().get("team").map(String::as_str),
        Some("bi"),
        "fields of other managers are kept"
    );
}

#[tokio::test]
async fn an_owned_secret_is_garbage_collected_after_its_owner_is_deleted() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "gc").await;
    let client = plane.client().await;
    let token = create_token(&client, ns.name(), "gc").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let name = token.secret_name();
    secrets
        .patch(
            &name,
            &apply_as(FIELD_MANAGER),
            &Patch::Apply(operator_secret(&token, "pat")),
        )
        .await
        .expect("owned Secret applied");

    Api::<SnowflakeToken>::namespaced(client.clone(), ns.name())
        .delete("gc", &DeleteParams::default())
        .await
        .expect("owner deleted");
    // The garbage collector only acts after its first full sync, which takes tens of
    // seconds after the controller-manager starts.
    wait_for(
        Duration::from_secs(150),
        "the owned Secret to be collected",
        || async { matches!(secrets.get_opt(&name).await, Ok(None)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_deployment_becomes_available_and_a_rollout_restart_completes() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "rollout").await;
    let client = plane.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "consumer"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "consumer"}},
            "template": {
                "metadata": {"labels": {"app": "consumer"}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/consumer:1"}]},
            },
        },
    }))
    .expect("deployment manifest");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("deployment created");

    let available = |d: &Deployment| {
        d.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Available" && c.status == "True")
            })
    };
    wait_for(
        Duration::from_secs(90),
        "the Deployment to become Available",
        || async {
            deployments
                .get("consumer")
                .await
                .ok()
                .filter(available)
                .map(|_| ())
        },
    )
    .await;

    let namespace = format!("--namespace={}", ns.name());
    kubectl_ok(
        plane,
        &["rollout", "restart", "deployment/consumer", &namespace],
    )
    .await;
    kubectl_ok(
        plane,
        &[
            "rollout",
            "status",
            "deployment/consumer",
            &namespace,
            "--timeout=90s",
        ],
    )
    .await;
    let restarted = deployments.get("consumer").await.expect("deployment");
    let annotations = restarted
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.annotations)
        .unwrap_or_default();
    assert!(
        annotations.contains_key("kubectl.kubernetes.io/restartedAt"),
        "rollout restart stamps the pod template"
    );
    let status = restarted.status.expect("status");
    assert_eq!(status.updated_replicas, Some(1));
    assert_eq!(status.available_replicas, Some(1));
}
