//! (a) Every mode of the chart renders manifests the API server accepts: the chart's CRDs
//! applied for real first, then each mode's objects with a server-side dry run, in a
//! namespace that enforces the restricted Pod Security Standard (any warning fails);
//! and the command lines the chart gives the operator and the emulator are accepted by
//! the real binary.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use snowflake_token_operator::emulator::{Emulator, EmulatorConfig};

use crate::helm::{self, chart, container, modes, objects, of_kind};
use crate::support::{ControlPlane, TestNamespace, kubectl, kubectl_ok};

/// Labels `ns` to enforce (and warn about) the restricted Pod Security Standard.
pub async fn restricted(client: &kube::Client, ns: &str) {
    let labels = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }}});
    Api::<Namespace>::all(client.clone())
        .patch(ns, &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap_or_else(|e| panic!("cannot label namespace {ns}: {e}"));
}

/// Applies the YAML files of `path` for real and waits until their CRDs are Established.
async fn apply_crds(plane: &ControlPlane, path: &Path) {
    let path = path.display().to_string();
    kubectl_ok(
        plane,
        &["apply", "--server-side", "--force-conflicts", "-f", &path],
    )
    .await;
    kubectl_ok(
        plane,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            &path,
        ],
    )
    .await;
}

#[tokio::test]
async fn every_mode_renders_manifests_the_api_server_accepts() {
    let plane = crate::plane();
    let client = plane.client().await;
    // The chart's CRDs, for real (identical to crds/, so a no-op for the other tests), and
    // stand-ins for the Prometheus Operator's, for the monitoring mode.
    apply_crds(plane, &chart().join("crds")).await;
    apply_crds(
        plane,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chart/monitoring-crds.yaml"),
    )
    .await;
    let release_ns = TestNamespace::new(plane, "chart-render").await;
    let watched = TestNamespace::new(plane, "chart-watched").await;
    restricted(&client, release_ns.name()).await;
    let dir = tempfile::tempdir().expect("dir");

    let modes = modes();
    assert!(modes.len() >= 5, "default and four ci/ modes: {modes:?}");
    for mode in &modes {
        // A mode watching one namespace watches the test's.
        let values: Value = mode.values.as_ref().map_or(Value::Null, |file| {
            serde_saphyr::from_str(&std::fs::read_to_string(file).expect("values")).expect("YAML")
        });
        let mut set = Vec::new();
        if values["watchNamespace"].is_string() {
            set.push(format!("watchNamespace={}", watched.name()));
        }
        let release = format!("r-{}", mode.name);
        let yaml = helm::template(plane, &release, release_ns.name(), Some(mode), &set).await;
        let rendered = objects(&yaml);
        for object in &rendered {
            let namespace = object["metadata"]["namespace"].as_str();
            let kind = object["kind"].as_str().unwrap_or_default();
            if matches!(kind, "ClusterRole" | "ClusterRoleBinding") {
                assert_eq!(namespace, None, "{}: {kind}", mode.name);
            } else if set.is_empty() || !matches!(kind, "Role" | "RoleBinding") {
                assert_eq!(
                    namespace,
                    Some(release_ns.name()),
                    "{}: {kind} {}",
                    mode.name,
                    object["metadata"]["name"]
                );
            } else {
                assert_eq!(namespace, Some(watched.name()), "{}: {kind}", mode.name);
            }
        }

        let file = dir.path().join(format!("{}.yaml", mode.name));
        std::fs::write(&file, &yaml).expect("written");
        let file = file.display().to_string();
        let output = kubectl(
            plane,
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=helm",
                "-f",
                &file,
            ],
        )
        .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !stderr.contains("Warning"),
            "mode {}: the API server refused or warned:\n{stderr}",
            mode.name
        );
        let applied = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            applied
                .lines()
                .filter(|l| l.contains("(server dry run)"))
                .count(),
            rendered.len(),
            "mode {}: every object accepted:\n{applied}",
            mode.name
        );

        endpoints_wired(&mode.name, &rendered);
        for deployment in of_kind(&rendered, "Deployment") {
            command_line_accepted(deployment).await;
        }
        for config_map in of_kind(&rendered, "ConfigMap") {
            if let Some(seed) = config_map["data"]["account.yaml"].as_str() {
                let config = EmulatorConfig::from_yaml(seed).unwrap_or_else(|e| {
                    panic!("mode {}: the emulator seed does not parse: {e}", mode.name)
                });
                Emulator::new(&config).unwrap_or_else(|e| {
                    panic!("mode {}: the emulator refuses its seed: {e:?}", mode.name)
                });
            }
        }
    }
}

/// The operator's endpoints reach what uses them: the metrics Service (which the
/// ServiceMonitor selects by its port name `metrics`) selects the operator's pods and
/// targets the port `--metrics-addr` listens on; the probes target `--health-addr`.
fn endpoints_wired(mode: &str, rendered: &[Value]) {
    let operator = helm::operator_deployment(rendered);
    let args = helm::args(operator);
    let port_of = |flag: &str| -> u64 {
        helm::flag(&args, flag)
            .and_then(|addr| addr.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no {flag} in {args:?}"))
    };
    let named_port = |name: &str| -> u64 {
        container(operator)["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("{mode}: no container port {name}"))
    };
    assert_eq!(named_port("metrics"), port_of("--metrics-addr"), "{mode}");
    assert_eq!(named_port("health"), port_of("--health-addr"), "{mode}");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let probe = &container(operator)[probe]["httpGet"];
        assert_eq!(probe["path"], path, "{mode}");
        assert_eq!(probe["port"], "health", "{mode}");
    }
    let pod_labels = &operator["spec"]["template"]["metadata"]["labels"];
    let selector = operator["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(
        selector.iter().all(|(k, v)| &pod_labels[k] == v),
        "{mode}: the Deployment selects its own pods"
    );
    let metrics = of_kind(rendered, "Service")
        .into_iter()
        .find(|s| {
            s["spec"]["ports"]
                .as_array()
                .is_some_and(|ports| ports.iter().any(|p| p["name"] == "metrics"))
        })
        .unwrap_or_else(|| panic!("{mode}: no Service with a port named metrics"));
    let service_selector = metrics["spec"]["selector"].as_object().expect("selector");
    assert!(
        service_selector.iter().all(|(k, v)| &pod_labels[k] == v),
        "{mode}: the metrics Service selects the operator's pods"
    );
    let port = metrics["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "metrics")
        .expect("metrics port");
    assert_eq!(port["targetPort"], "metrics", "{mode}");
    // Nothing else of the release answers to the operator's selector (the emulator has
    // labels of its own).
    for deployment in of_kind(rendered, "Deployment") {
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        let selected = service_selector.iter().all(|(k, v)| &labels[k] == v);
        assert_eq!(
            selected,
            std::ptr::eq(deployment, operator),
            "{mode}: the metrics Service selects {}",
            deployment["metadata"]["name"]
        );
    }
}

/// The binary, given the container's arguments and plain environment, gets past parsing
/// them: `run` to building its Kubernetes client (pointed at a missing kubeconfig),
/// `emulator` to reading its seed (absent outside the pod).
async fn command_line_accepted(deployment: &Value) {
    let container = container(deployment);
    let args = helm::args(deployment);
    let expected = match args.first().map(String::as_str) {
        Some("run") => "cannot configure the Kubernetes client",
        Some("emulator") => "cannot load the emulator config",
        other => panic!("a Deployment running {other:?}"),
    };
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_snowflake-token-operator"));
    command
        .args(&args)
        .env_clear()
        .env("SFTO_KUBECONFIG", "/nonexistent/kubeconfig")
        .env("POD_NAME", "operator-0")
        .env("POD_NAMESPACE", "default")
        .stdin(std::process::Stdio::null());
    for variable in container["env"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (variable["name"].as_str(), variable["value"].as_str()) {
            command.env(name, value);
        }
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("exits in time")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() == Some(1) && stderr.contains(expected),
        "`snowflake-token-operator {}` exited {:?}, expected 1 with '{expected}':\n{stderr}",
        args.join(" "),
        output.status.code()
    );
}
