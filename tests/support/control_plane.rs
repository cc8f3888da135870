//! The test binary's control plane: the library's [`envtest::ControlPlane`] with the CRDs
//! of `crds/` installed (the generated files users apply, not the Rust types), and methods
//! that fail the test instead of returning errors.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use snowflake_token_operator::envtest::{self, Options, RequestLog};

use super::api_faults::ApiFaults;

/// A running control plane; its fields are the library's (through `Deref`).
#[derive(Debug)]
pub struct ControlPlane(envtest::ControlPlane);

impl std::ops::Deref for ControlPlane {
    type Target = envtest::ControlPlane;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl ControlPlane {
    /// Starts everything `options` asks for, with the CRDs of `crds/`.
    pub fn start(options: Options) -> Result<Self, String> {
        envtest::ControlPlane::start(options, crds_from_repo()?).map(Self)
    }

    /// Fails unless this control plane has everything `wanted` asks for.
    pub fn ensure_covers(&self, wanted: Options) {
        assert!(
            self.0.covers(wanted),
            "this test binary's control plane was started with {:?} but a test needs {wanted:?}: \
             every test of one binary must ask for the same components",
            self.0.options
        );
    }

    /// A fresh client. A `kube::Client` is bound to the runtime it first connects from,
    /// and every `#[tokio::test]` has its own, so never share one between tests.
    pub async fn client(&self) -> kube::Client {
        self.0.client().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh client that records the method and path of every request it sends.
    pub async fn recording_client(&self) -> (kube::Client, RequestLog) {
        self.0
            .recording_client()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh client that records every request it passes on to the API server, behind
    /// `faults`: what they answer never reaches the API server (nor the log).
    pub async fn faulty_client(&self, faults: &ApiFaults) -> (kube::Client, RequestLog) {
        let config = envtest::config_from(&self.0.kubeconfig)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let log = RequestLog::default();
        let client = kube::client::ClientBuilder::try_from(config)
            .unwrap_or_else(|e| panic!("client: {e}"))
            .with_layer(&log.layer())
            .with_layer(faults)
            .build();
        (client, log)
    }

    /// Kills kube-apiserver (SIGKILL) and returns once it is gone.
    pub fn stop_api_server(&self) {
        self.0.stop_api_server().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts kube-apiserver again and returns once it is ready.
    pub async fn start_api_server(&self) {
        self.0
            .start_api_server()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A kubeconfig that authenticates as `identity`, one of [`envtest::IDENTITIES`].
    pub fn kubeconfig_as(&self, identity: &str) -> PathBuf {
        self.0
            .kubeconfig_as(identity)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh client that authenticates as `identity`.
    pub async fn client_as(&self, identity: &str) -> kube::Client {
        self.0
            .client_as(identity)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh client authenticating with `token` (a ServiceAccount token, say).
    pub async fn client_with_token(&self, token: &str) -> kube::Client {
        self.0
            .client_with_token(token)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The CRDs in `crds/`, as `kubectl apply -f crds/` would read them.
pub fn crds_from_repo() -> Result<Vec<CustomResourceDefinition>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
        })
        .collect()
}
