//! (b) `helm install --wait`, `helm upgrade --wait` and `helm uninstall` on the control
//! plane, whose kwok node makes the pods Running and Ready: the release's objects, found
//! by its `app.kubernetes.io/instance` label across every listable kind, are there after
//! the install, follow the upgrade, and are all gone after the uninstall.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{Discovery, verbs};

use crate::helm::{chart, helm, helm_ok};
use crate::render::restricted;
use crate::support::{TestNamespace, kubectl, wait_for};

/// Helm's own wait, and ours for the garbage collector (which starts collecting some 40 s
/// after the control plane started).
const PATIENCE: Duration = Duration::from_secs(120);

/// Every object labelled `app.kubernetes.io/instance=<release>`, of any listable kind in
/// any namespace, as `Kind namespace/name`.
async fn release_objects(client: &kube::Client, release: &str) -> BTreeSet<String> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("API discovery");
    let selector = ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"));
    let mut found = BTreeSet::new();
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            if !capabilities.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let listed = api
                .list_metadata(&selector)
                .await
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", resource.plural));
            for object in listed.items {
                found.insert(format!(
                    "{} {}/{}",
                    resource.kind,
                    object.namespace().unwrap_or_default(),
                    object.name_any()
                ));
            }
        }
    }
    found
}

/// How many of `objects` are of `kind`.
fn count(objects: &BTreeSet<String>, kind: &str) -> usize {
    objects
        .iter()
        .filter(|o| o.split(' ').next() == Some(kind))
        .count()
}

/// Helm's record of the release (one Secret per revision).
async fn release_records(client: &kube::Client, ns: &str, release: &str) -> usize {
    Api::<Secret>::namespaced(client.clone(), ns)
        .list_metadata(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .expect("list")
        .items
        .len()
}

/// Whether the Deployment rolled out its current spec: observed, all replicas updated and
/// available.
fn rolled_out(deployment: &Deployment) -> bool {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    deployment.status.as_ref().is_some_and(|s| {
        s.observed_generation == deployment.metadata.generation
            && s.updated_replicas == Some(wanted)
            && s.available_replicas == Some(wanted)
            && s.replicas == Some(wanted)
    })
}

#[tokio::test]
async fn install_upgrade_and_uninstall_leave_nothing_behind() {
    let plane = crate::plane();
    let client = plane.client().await;
    let ns = TestNamespace::new(plane, "chart-install").await;
    // The pods must pass the restricted Pod Security Standard, or they are never created
    // and the install's wait fails.
    restricted(&client, ns.name()).await;
    let release = ns.name().to_owned();
    let chart = chart().display().to_string();
    let timeout = format!("{}s", PATIENCE.as_secs());
    assert_eq!(
        release_objects(&client, &release).await,
        BTreeSet::new(),
        "nothing before the install"
    );

    // The demo install: the operator and the emulator.
    let notes = helm_ok(
        plane,
        &[
            "install",
            &release,
            &chart,
            "--namespace",
            ns.name(),
            "--wait",
            "--timeout",
            &timeout,
            "--set",
            "emulator.enabled=true",
        ],
    )
    .await;
    let fullname = format!("{release}-snowflake-token-operator");
    let emulator = format!("{fullname}-emulator");
    assert!(
        notes.contains(&format!("http://{emulator}.{}.svc:8085", ns.name())),
        "the notes name the emulator's URL:\n{notes}"
    );
    assert!(notes.contains("kubectl get sftoken"), "{notes}");
    let installed = release_objects(&client, &release).await;
    let ns_name = ns.name();
    for expected in [
        format!("Deployment {ns_name}/{fullname}"),
        format!("Deployment {ns_name}/{emulator}"),
        format!("Service {ns_name}/{fullname}-metrics"),
        format!("Service {ns_name}/{emulator}"),
        format!("ConfigMap {ns_name}/{emulator}"),
        format!("ServiceAccount {ns_name}/{fullname}"),
        format!("ClusterRole /{fullname}"),
        format!("ClusterRoleBinding /{fullname}"),
    ] {
        assert!(
            installed.contains(&expected),
            "no {expected} in {installed:#?}"
        );
    }
    assert_eq!(count(&installed, "Pod"), 2, "{installed:#?}");
    assert_eq!(count(&installed, "ReplicaSet"), 2, "{installed:#?}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns_name);
    let operator = deployments
        .get(&fullname)
        .await
        .expect("operator Deployment");
    assert!(rolled_out(&operator), "{:?}", operator.status);
    let pod_spec = operator
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec");
    assert_eq!(
        pod_spec.containers[0].image.as_deref(),
        Some(
            format!(
                "ghcr.io/snowflake-token-operator/snowflake-token-operator:{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );

    // An upgrade that changes a flag and drops the emulator: a new operator pod with the
    // new flag, and the emulator's objects gone.
    helm_ok(
        plane,
        &[
            "upgrade",
            &release,
            &chart,
            "--namespace",
            ns_name,
            "--wait",
            "--timeout",
            &timeout,
            "--set",
            "concurrency=4",
        ],
    )
    .await;
    let upgraded = deployments
        .get(&fullname)
        .await
        .expect("operator Deployment");
    let args = upgraded
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers[0].args.clone())
        .unwrap_or_default();
    assert!(args.contains(&"--concurrency=4".to_owned()), "{args:?}");
    assert!(rolled_out(&upgraded), "{:?}", upgraded.status);
    assert!(
        upgraded.metadata.generation > operator.metadata.generation,
        "a new pod template"
    );
    let after_upgrade = wait_for(PATIENCE, "the emulator's objects to go", || async {
        let objects = release_objects(&client, &release).await;
        (!objects.iter().any(|o| o.contains(&emulator))).then_some(objects)
    })
    .await;
    assert!(
        after_upgrade.contains(&format!("Deployment {ns_name}/{fullname}")),
        "{after_upgrade:#?}"
    );
    assert_eq!(release_records(&client, ns_name, &release).await, 2);

    // Uninstall: nothing of the release remains, not even pods or ReplicaSets (removed by
    // the garbage collector), nor Helm's records. Helm 4's wait sometimes ends at once
    // with "still exists. status: Terminating" for a Deployment under foreground deletion
    // (its records are gone by then): the removal itself is checked below, so only that
    // complaint is let through.
    let uninstall = helm(
        plane,
        &[
            "uninstall",
            &release,
            "--namespace",
            ns_name,
            "--wait",
            "--cascade",
            "foreground",
            "--timeout",
            &timeout,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&uninstall.stderr);
    assert!(
        uninstall.status.success() || stderr.contains("status: Terminating"),
        "helm uninstall failed:\n{}{stderr}",
        String::from_utf8_lossy(&uninstall.stdout)
    );
    let left = std::sync::Mutex::new(BTreeSet::new());
    let gone = crate::support::until(std::time::Instant::now() + PATIENCE, || async {
        let objects = release_objects(&client, &release).await;
        let empty = objects.is_empty();
        *left.lock().expect("lock") = objects;
        empty.then_some(())
    })
    .await;
    if gone.is_none() {
        let events = kubectl(plane, &["get", "events", "-n", ns_name]).await;
        panic!(
            "left behind by the uninstall: {:#?}\n{}",
            left.lock().expect("lock"),
            String::from_utf8_lossy(&events.stdout)
        );
    }
    assert_eq!(release_records(&client, ns_name, &release).await, 0);
}
