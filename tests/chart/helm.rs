//! Running the kit's `helm` against the test control plane, and reading what it renders.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::ControlPlane;

/// The chart under test.
pub fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/snowflake-token-operator")
}

/// One documented mode: its name and values file (`None`: the defaults).
#[derive(Debug, Clone)]
pub struct Mode {
    pub name: String,
    pub values: Option<PathBuf>,
}

/// The default values and every `ci/*-values.yaml` of the chart (the modes
/// scripts/check-chart lints), so that a new mode is covered without editing the tests.
pub fn modes() -> Vec<Mode> {
    let dir = chart().join("ci");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-values.yaml"))
        })
        .collect();
    files.sort();
    let mut modes = vec![Mode {
        name: "default".into(),
        values: None,
    }];
    modes.extend(files.into_iter().map(|file| {
        Mode {
            name: file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix("-values.yaml"))
                .expect("a -values.yaml file")
                .to_owned(),
            values: Some(file),
        }
    }));
    modes
}

/// Runs `helm` with the control plane's kubeconfig.
pub async fn helm(plane: &ControlPlane, args: &[&str]) -> Output {
    let binary = plane
        .binaries
        .require("helm")
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::process::Command::new(binary)
        .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
        .args(args)
        .env("HELM_CACHE_HOME", plane.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", plane.dir.join("helm/config"))
        .env("HELM_DATA_HOME", plane.dir.join("helm/data"))
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run helm: {e}"))
}

/// Like [`helm`], panicking with its output unless it succeeds; returns stdout.
pub async fn helm_ok(plane: &ControlPlane, args: &[&str]) -> String {
    let output = helm(plane, args).await;
    assert!(
        output.status.success(),
        "helm {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `helm template <release>` of the chart into `namespace`, with `mode`'s values file and
/// `set` (`key=value` pairs for `--set`): the manifests, as one YAML stream.
pub async fn template(
    plane: &ControlPlane,
    release: &str,
    namespace: &str,
    mode: Option<&Mode>,
    set: &[String],
) -> String {
    let chart = chart().display().to_string();
    let mut args = vec![
        "template".to_owned(),
        release.to_owned(),
        chart,
        "--namespace".into(),
        namespace.to_owned(),
    ];
    if let Some(values) = mode.and_then(|m| m.values.as_ref()) {
        args.push("--values".into());
        args.push(values.display().to_string());
    }
    for pair in set {
        args.push("--set".into());
        args.push(pair.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    helm_ok(plane, &args).await
}

/// The objects of a YAML stream (empty documents dropped).
pub fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{yaml}"))
        .into_iter()
        .filter(|o| o.is_object())
        .collect()
}

/// The objects of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The objects as a YAML stream (JSON documents are YAML), for `kubectl apply -f`.
pub fn to_stream(objects: &[&Value]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{o}\n"))
        .collect::<String>()
}

/// The operator's Deployment (the one whose container runs `run`).
pub fn operator_deployment(objects: &[Value]) -> &Value {
    of_kind(objects, "Deployment")
        .into_iter()
        .find(|d| container(d)["args"][0] == "run")
        .expect("a Deployment running `snowflake-token-operator run`")
}

/// The first container of a Deployment.
pub fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

/// The container's arguments.
pub fn args(deployment: &Value) -> Vec<String> {
    container(deployment)["args"]
        .as_array()
        .map(|args| {
            args.iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of `--flag=value` in `args`.
pub fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}
