//! A real control plane on loopback: etcd + kube-apiserver, optionally
//! kube-controller-manager, kube-scheduler and kwok with one simulated node.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::binaries::Binaries;
use super::processes::{free_port, log_tail, run, spawn, spawn_logging_to};
use super::reaper::Reaper;
use super::{kwok, wait};

/// Which optional components a test binary needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// kube-controller-manager: garbage collection of owned objects, namespace deletion,
    /// Deployment and ReplicaSet rollouts, default service accounts.
    pub controller_manager: bool,
    /// kube-scheduler + kwok + one simulated node, so pods become Running and Ready.
    /// Implies `controller_manager` (Deployments need it).
    pub nodes: bool,
    /// An audit log of every write (`create`, `update`, `patch`, `delete`) at metadata
    /// level in [`ControlPlane::audit_log`], so a benchmark can count each identity's
    /// writes from the API server's own record.
    pub audit: bool,
}

impl Options {
    /// Only etcd and kube-apiserver.
    pub const API_ONLY: Self = Self {
        controller_manager: false,
        nodes: false,
        audit: false,
    };
    /// Everything: controller-manager, scheduler, kwok and a node.
    pub const FULL: Self = Self {
        controller_manager: true,
        nodes: true,
        audit: false,
    };

    fn covers(self, other: Self) -> bool {
        (self.controller_manager || !other.controller_manager)
            && (self.nodes || !other.nodes)
            && (self.audit || !other.audit)
    }
}

/// A running control plane. Lives until the test process exits; the reaper stops it.
#[derive(Debug)]
pub struct ControlPlane {
    /// What was started.
    pub options: Options,
    /// Kubeconfig with the admin token, for `kubectl`, `helm` and `kube::Client`s.
    pub kubeconfig: PathBuf,
    /// The API server's URL.
    pub server: String,
    /// How long starting took (processes, readiness, CRDs, node).
    pub startup: Duration,
    /// Time since the start at which each step finished, to see where startup time goes.
    pub milestones: Vec<(&'static str, Duration)>,
    /// The folder of binaries used.
    pub binaries: Binaries,
    /// The temporary folder (data, certificates, logs) removed by the reaper.
    pub dir: PathBuf,
    /// The audit log (JSON lines), when [`Options::audit`] asked for one.
    pub audit_log: Option<PathBuf>,
    /// Identities besides `admin` (all cluster admins), each with its token, so
    /// components under test can be told apart in the audit log.
    identities: Vec<(String, String)>,
    ca: Vec<u8>,
    /// The running kube-apiserver, to stop and start it again.
    api_server: std::sync::Mutex<ApiServer>,
    reaper: std::sync::Mutex<Reaper>,
}

/// How kube-apiserver was started, and its process while it runs.
#[derive(Debug)]
struct ApiServer {
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    process: Option<std::process::Child>,
}

/// The identities every control plane knows besides `admin`.
pub const IDENTITIES: [&str; 3] = ["operator", "peer", "floor"];

/// Generous: the first start may unpack the binaries.
const START_DEADLINE: Duration = Duration::from_secs(90);

impl ControlPlane {
    /// Starts everything `options` asks for and installs `crds` (waiting until they are
    /// Established); runs on its own thread and runtime, so it may be called from any
    /// context.
    pub fn start(options: Options, crds: Vec<CustomResourceDefinition>) -> Result<Self, String> {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
            runtime.block_on(start(options, crds))
        })
        .join()
        .map_err(|_| "starting the control plane panicked".to_owned())?
    }

    /// Stops every process of the control plane and removes its folder, returning when
    /// that is done.
    pub fn stop(self) {
        self.reaper
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .finish();
    }

    /// Kills kube-apiserver with SIGKILL, as a crash would, and returns once it is gone:
    /// clients now have their connections refused and their watches cut. etcd keeps
    /// running, so [`Self::start_api_server`] brings back the same cluster.
    pub fn stop_api_server(&self) -> Result<(), String> {
        let mut api_server = lock(&self.api_server);
        if let Some(mut process) = api_server.process.take() {
            process
                .kill()
                .and_then(|()| process.wait().map(drop))
                .map_err(|e| format!("cannot kill kube-apiserver: {e}"))?;
        }
        Ok(())
    }

    /// Starts kube-apiserver again, as it was started (same port, certificates, tokens
    /// and etcd), if it is not running, and returns once it answers `/readyz`.
    pub async fn start_api_server(&self) -> Result<(), String> {
        {
            let mut api_server = lock(&self.api_server);
            if api_server.process.is_none() {
                let ApiServer {
                    binary, args, log, ..
                } = &*api_server;
                let process = spawn_logging_to(&mut lock(&self.reaper), log, binary, args)?;
                api_server.process = Some(process);
            }
        }
        let client = self.client().await?;
        wait::until(Instant::now() + START_DEADLINE, || async {
            let request = http::Request::get("/readyz").body(Vec::new()).ok()?;
            let body = client.request_text(request).await.ok()?;
            (body.trim() == "ok").then_some(())
        })
        .await
        .ok_or_else(|| {
            format!(
                "kube-apiserver did not become ready again (/readyz)\n{}",
                log_tail(&lock(&self.api_server).log)
            )
        })
    }

    /// Whether this control plane has everything `wanted` asks for.
    pub fn covers(&self, wanted: Options) -> bool {
        self.options.covers(wanted)
    }

    /// A fresh client. A `kube::Client` is bound to the runtime it first connects from,
    /// and every `#[tokio::test]` has its own, so never share one between tests.
    pub async fn client(&self) -> Result<kube::Client, String> {
        client_from(&self.kubeconfig).await
    }

    /// A fresh client that records the method and path of every request it sends, to
    /// count the writes a component makes (`GET` and watches are reads).
    pub async fn recording_client(&self) -> Result<(kube::Client, RequestLog), String> {
        let config = config_from(&self.kubeconfig).await?;
        let log = RequestLog::default();
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| format!("client: {e}"))?
            .with_layer(&log.layer())
            .build();
        Ok((client, log))
    }

    /// A kubeconfig (written once, in the control plane's folder) that authenticates as
    /// `identity`, one of [`IDENTITIES`].
    pub fn kubeconfig_as(&self, identity: &str) -> Result<PathBuf, String> {
        let token = self
            .identities
            .iter()
            .find(|(name, _)| name == identity)
            .map(|(_, token)| token.as_str())
            .ok_or_else(|| format!("{identity} is not one of {IDENTITIES:?}"))?;
        let path = self.dir.join(format!("kubeconfig-{identity}"));
        if !path.exists() {
            std::fs::write(&path, kubeconfig_yaml(&self.server, &self.ca, token))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(path)
    }

    /// A fresh client that authenticates as `identity`, one of [`IDENTITIES`].
    pub async fn client_as(&self, identity: &str) -> Result<kube::Client, String> {
        client_from(&self.kubeconfig_as(identity)?).await
    }

    /// A fresh client authenticating with `token` (for example a ServiceAccount token from
    /// the TokenRequest API) instead of the admin token, to test RBAC as the operator's
    /// service account sees it.
    pub async fn client_with_token(&self, token: &str) -> Result<kube::Client, String> {
        let mut config = config_from(&self.kubeconfig).await?;
        config.auth_info.token = Some(token.to_owned().into());
        kube::Client::try_from(config).map_err(|e| format!("client: {e}"))
    }
}

/// The requests a [`ControlPlane::recording_client`] sent.
#[derive(Clone, Debug, Default)]
pub struct RequestLog(std::sync::Arc<std::sync::Mutex<Vec<(http::Method, String)>>>);

impl RequestLog {
    /// The layer of a client's stack that records into this log each request it passes on.
    pub fn layer(
        &self,
    ) -> tower::util::MapRequestLayer<
        impl Fn(http::Request<kube::client::Body>) -> http::Request<kube::client::Body> + Clone + use<>,
    > {
        let recorder = self.clone();
        tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
            recorder.record(request.method(), request.uri().path());
            request
        })
    }

    fn record(&self, method: &http::Method, path: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((method.clone(), path.to_owned()));
    }

    /// The writes (any method but GET, HEAD, OPTIONS) sent so far, as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(method, _)| {
                !matches!(
                    *method,
                    http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
                )
            })
            .map(|(method, path)| format!("{method} {path}"))
            .collect()
    }
}

/// The client configuration of a kubeconfig file.
pub async fn config_from(kubeconfig: &Path) -> Result<kube::Config, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig: {e}"))
}

/// A client from a kubeconfig file.
pub async fn client_from(kubeconfig: &Path) -> Result<kube::Client, String> {
    let config = config_from(kubeconfig).await?;
    kube::Client::try_from(config).map_err(|e| format!("client: {e}"))
}

async fn start(
    options: Options,
    crds: Vec<CustomResourceDefinition>,
) -> Result<ControlPlane, String> {
    let began = Instant::now();
    let mut milestones = Vec::new();
    let mut reached = |step: &'static str| milestones.push((step, began.elapsed()));
    let options = Options {
        controller_manager: options.controller_manager || options.nodes,
        ..options
    };
    let binaries = Binaries::locate()?;
    let etcd = binaries.require("etcd")?;
    let apiserver = binaries.require("kube-apiserver")?;
    let controller_manager = options
        .controller_manager
        .then(|| binaries.require("kube-controller-manager"))
        .transpose()?;
    let node_binaries = options
        .nodes
        .then(|| {
            Ok::<_, String>((
                binaries.require("kube-scheduler")?,
                binaries.require("kwok")?,
            ))
        })
        .transpose()?;

    let dir = tempfile::Builder::new()
        .prefix("sfto-envtest-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?
        .keep();
    let mut reaper = Reaper::start(&dir)?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let path = |name: &str| dir.join(name).display().to_string();

    service_account_key(&dir)?;
    reached("binaries located, keys generated");
    let token = uuid::Uuid::new_v4().simple().to_string();
    let identities: Vec<(String, String)> = IDENTITIES
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                uuid::Uuid::new_v4().simple().to_string(),
            )
        })
        .collect();
    let mut tokens = format!("{token},admin,admin,system:masters\n");
    for (name, secret) in &identities {
        tokens.push_str(&format!("{secret},{name},{name},system:masters\n"));
    }
    std::fs::write(dir.join("tokens.csv"), tokens).map_err(|e| format!("tokens.csv: {e}"))?;
    let audit_log = options.audit.then(|| dir.join("audit.log"));
    let mut audit_flags = Vec::new();
    if let Some(log) = &audit_log {
        std::fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY)
            .map_err(|e| format!("audit policy: {e}"))?;
        audit_flags = vec![
            format!("--audit-policy-file={}", path("audit-policy.yaml")),
            format!("--audit-log-path={}", log.display()),
            "--audit-log-format=json".into(),
            "--audit-log-mode=batch".into(),
            "--audit-log-batch-max-wait=1s".into(),
            // A forced rotation of 10,000 tokens writes some 30,000 events within a
            // minute: the default buffer (10,000) would drop some of them.
            "--audit-log-batch-buffer-size=200000".into(),
            // Rotation renames the file under a reader's offset; its default (0) means
            // lumberjack's 100 MB, which a 10,000-token run passes in its cold start.
            "--audit-log-maxsize=1000000".into(),
        ];
    }

    let (client_port, peer_port, secure_port) = (free_port()?, free_port()?, free_port()?);
    let etcd_log = spawn(
        &mut reaper,
        &logs,
        "etcd",
        &etcd,
        &[
            "--name=default".into(),
            format!("--data-dir={}", path("etcd")),
            format!("--listen-client-urls=http://127.0.0.1:{client_port}"),
            format!("--advertise-client-urls=http://127.0.0.1:{client_port}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ],
    )?;
    let apiserver_args: Vec<String> = [
        format!("--etcd-servers=http://127.0.0.1:{client_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={secure_port}"),
        format!("--cert-dir={}", path("certs")),
        format!("--token-auth-file={}", path("tokens.csv")),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-key-file={}", path("sa.pub")),
        format!("--service-account-signing-key-file={}", path("sa.key")),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
    ]
    .into_iter()
    .chain(audit_flags)
    .collect();
    let apiserver_log = logs.join("kube-apiserver.log");
    let apiserver_process =
        spawn_logging_to(&mut reaper, &apiserver_log, &apiserver, &apiserver_args)?;
    let explain = |what: &str| {
        format!(
            "{what}\n{}\n{}",
            log_tail(&apiserver_log),
            log_tail(&etcd_log)
        )
    };

    // The API server writes its self-signed certificate (and the CA that signed it)
    // before it serves; trust that in the kubeconfig.
    // It writes the key after the certificate, so a present key means a complete certificate.
    let cert = dir.join("certs/apiserver.crt");
    let key = dir.join("certs/apiserver.key");
    let deadline = began + START_DEADLINE;
    let ca = wait::until_sync(deadline, || {
        let key_written = std::fs::metadata(&key).is_ok_and(|m| m.len() > 0);
        key_written.then(|| std::fs::read(&cert).ok()).flatten()
    })
    .ok_or_else(|| explain("kube-apiserver wrote no serving certificate"))?;
    let server = format!("https://127.0.0.1:{secure_port}");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_yaml(&server, &ca, &token))
        .map_err(|e| format!("kubeconfig: {e}"))?;
    reached("serving certificate written");
    let client = client_from(&kubeconfig).await?;

    wait::until(deadline, || async {
        let request = http::Request::get("/readyz").body(Vec::new()).ok()?;
        let body = client.request_text(request).await.ok()?;
        (body.trim() == "ok").then_some(())
    })
    .await
    .ok_or_else(|| explain("kube-apiserver did not become ready (/readyz)"))?;
    reached("kube-apiserver ready");

    // Start the slow starters before installing CRDs: the garbage collector needs a full
    // sync (tens of seconds) before it collects anything.
    if let Some(binary) = controller_manager {
        spawn(
            &mut reaper,
            &logs,
            "kube-controller-manager",
            &binary,
            &[
                format!("--kubeconfig={}", kubeconfig.display()),
                "--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token,deployment,replicaset".into(),
                format!("--service-account-private-key-file={}", path("sa.key")),
                "--bind-address=127.0.0.1".into(),
                "--secure-port=0".into(),
                "--leader-elect=false".into(),
            ],
        )?;
    }
    if let Some((scheduler, kwok_binary)) = &node_binaries {
        spawn(
            &mut reaper,
            &logs,
            "kube-scheduler",
            scheduler,
            &[
                format!("--kubeconfig={}", kubeconfig.display()),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
            ],
        )?;
        kwok::start(&mut reaper, &logs, kwok_binary, &kubeconfig)?;
    }

    install_crds(&client, &crds, deadline).await?;
    reached("CRDs established");
    if node_binaries.is_some() {
        kwok::add_node(&client, deadline).await?;
        reached("kwok node ready");
    }

    Ok(ControlPlane {
        options,
        kubeconfig,
        server,
        startup: began.elapsed(),
        milestones,
        binaries,
        dir,
        audit_log,
        identities,
        ca,
        api_server: std::sync::Mutex::new(ApiServer {
            binary: apiserver,
            args: apiserver_args,
            log: apiserver_log,
            process: Some(apiserver_process),
        }),
        reaper: std::sync::Mutex::new(reaper),
    })
}

/// Locks `mutex`, also after a panic elsewhere (the guarded values stay consistent).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The service-account signing key pair, `sa.key` and `sa.pub`, by the openssl CLI (much
/// faster than an unoptimised Rust RSA key generation; present on every Linux and macOS).
fn service_account_key(dir: &Path) -> Result<(), String> {
    let key = dir.join("sa.key").display().to_string();
    let public = dir.join("sa.pub").display().to_string();
    run("openssl", &["genrsa", "-out", &key, "2048"])
        .and_then(|()| run("openssl", &["rsa", "-in", &key, "-pubout", "-out", &public]))
        .map_err(|e| format!("{e} (the control plane's service-account key is made with the openssl command: install openssl)"))
}

/// Writes only, at metadata level (who, what, when, answer), once each when answered.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
";

fn kubeconfig_yaml(server: &str, ca: &[u8], token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: admin
current-context: envtest
"
    )
}

/// Server-side applies `crds` and waits until each is Established.
pub async fn install_crds(
    client: &kube::Client,
    crds: &[CustomResourceDefinition],
    deadline: Instant,
) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("snowflake-token-operator-envtest").force();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .map_err(|e| format!("the API server refused CRD {name}: {e}"))?;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        wait::until(deadline, || async {
            let current = api.get(&name).await.ok()?;
            let established = current
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        })
        .await
        .ok_or_else(|| format!("CRD {name} did not become Established"))?;
    }
    Ok(())
}
