//! Test support: a real Kubernetes control plane (etcd + kube-apiserver, optionally
//! kube-controller-manager, kube-scheduler and kwok) shared by all tests of one test
//! binary, a namespace per test, and `kubectl` with the control plane's kubeconfig.
//!
//! Include it from an integration test with `mod support;`. Each test binary uses a
//! different subset of these helpers, hence the `dead_code` allowance.
#![allow(dead_code, unused_imports)]

pub mod api_faults;
mod control_plane;
pub mod process;
mod wait;

use std::process::Output;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};

pub use control_plane::{ControlPlane, crds_from_repo};
pub use snowflake_token_operator::envtest::{
    Binaries, HOW_TO_GET_BINARIES, NODE_NAME, Options, RequestLog,
};
pub use wait::{until, until_sync, wait_for};

static CONTROL_PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The control plane of this test binary, started by the first caller. Fails the test
/// (never skips it) when the binaries are missing, with instructions to get them.
pub fn control_plane(options: Options) -> &'static ControlPlane {
    let plane = CONTROL_PLANE.get_or_init(|| {
        let plane = ControlPlane::start(options);
        if let Ok(plane) = &plane {
            eprintln!(
                "control plane ({:?}) started in {:.1?} at {} (files in {})",
                plane.options,
                plane.startup,
                plane.server,
                plane.dir.display()
            );
            for (step, at) in &plane.milestones {
                eprintln!("  {at:>8.1?}  {step}");
            }
        }
        plane
    });
    match plane {
        Ok(plane) => {
            plane.ensure_covers(options);
            plane
        }
        Err(message) => panic!("cannot start the test control plane:\n{message}"),
    }
}

/// A namespace of its own for one test: unique name, created on construction, deleted
/// (best effort, without waiting) when dropped, also when the test panics.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    kubeconfig: std::path::PathBuf,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>`.
    pub async fn new(plane: &ControlPlane, prefix: &str) -> Self {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let namespaces: Api<Namespace> = Api::all(plane.client().await);
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"sfto-test": "true"}}
        }))
        .expect("namespace manifest");
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
        Self {
            name,
            kubeconfig: plane.kubeconfig.clone(),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot be async, and the test's runtime may be shutting down: delete from a
        // thread with its own small runtime.
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let config = kube::Config::from_custom_kubeconfig(
                    kube::config::Kubeconfig::read_from(&kubeconfig).ok()?,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .ok()?;
                let client = kube::Client::try_from(config).ok()?;
                Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(deleted, Ok(Some(_))) {
            eprintln!("warning: could not delete test namespace {}", self.name);
        }
    }
}

/// A PAT SnowflakeToken named `name` for user `BI_SVC` (role ANALYST, connection `prod`)
/// with `secret` as its `spec.secret`, for tests of what the operator writes for a token.
pub fn pat_token(
    name: &str,
    secret: serde_json::Value,
) -> snowflake_token_operator::api::SnowflakeToken {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeToken",
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "prod"},
            "user": {"name": "BI_SVC"},
            "programmaticAccessToken": {"roleRestriction": "ANALYST"},
            "secret": secret,
        },
    }))
    .expect("token manifest")
}

/// Runs the kit's `kubectl` (never the machine's older one) against the control plane.
pub async fn kubectl(plane: &ControlPlane, args: &[&str]) -> Output {
    let binary = plane
        .binaries
        .require("kubectl")
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::process::Command::new(binary)
        .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"))
}

/// Like [`kubectl`], panicking with stderr unless it succeeds; returns stdout.
pub async fn kubectl_ok(plane: &ControlPlane, args: &[&str]) -> String {
    let output = kubectl(plane, args).await;
    assert!(
        output.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
