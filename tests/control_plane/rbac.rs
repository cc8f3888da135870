//! RBAC is enforced by the test control plane, so tests of the operator's permissions
//! mean something: a service account sees only what its Role grants.

use std::time::Duration;

use crate::support::{TestNamespace, wait_for};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// A token for `name` from the TokenRequest API.
async fn token_for(client: &kube::Client, ns: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("manifest");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("service account created");
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    });
    let response: serde_json::Value = accounts
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .expect("token issued");
    response["status"]["token"]
        .as_str()
        .expect("token in the response")
        .to_owned()
}

#[tokio::test]
async fn a_service_account_reads_secrets_only_once_a_role_allows_it() {
    let plane = crate::plane();
    let ns = TestNamespace::new(plane, "rbac").await;
    let admin = plane.client().await;
    let token = token_for(&admin, ns.name(), "operator").await;
    let as_operator: Api<Secret> =
        Api::namespaced(plane.client_with_token(&token).await, ns.name());

    let denied = as_operator
        .list(&ListParams::default())
        .await
        .expect_err("no Role yet");
    assert!(
        matches!(&denied, kube::Error::Api(s) if s.code == 403),
        "expected 403 Forbidden, got {denied}"
    );

    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "secret-reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    }))
    .expect("role manifest");
    Api::<Role>::namespaced(admin.clone(), ns.name())
        .create(&PostParams::default(), &role)
        .await
        .expect("role created");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "operator-reads-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns.name()}],
    }))
    .expect("binding manifest");
    Api::<RoleBinding>::namespaced(admin, ns.name())
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding created");

    // The authorizer's cache catches up with the new binding within moments.
    wait_for(
        Duration::from_secs(30),
        "the RoleBinding to take effect",
        || async {
            as_operator
                .list(&ListParams::default())
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await;
}
