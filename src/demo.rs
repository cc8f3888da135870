//! `snowflake-token-operator demo`: the whole product in one command, without a Snowflake
//! account or a cluster.
//!
//! It starts the bundled Snowflake emulator (seeded from `examples/emulator/account.yaml`)
//! and a local control plane (etcd + kube-apiserver from the envtest binaries; or uses an
//! existing cluster with `--kube-context`), installs the CRDs, runs the operator (this
//! binary's `run`, as a child process, logging to a file), applies the examples (a
//! connection, a service user, a PAT token and an OAuth token, whose one-time consent it
//! gives through this binary's `authorize`, playing the browser), waits until all are
//! Ready, shows their status and their Secrets (values masked), logs in to the emulator
//! with each credential, forces a rotation and shows the old and the new PAT both valid
//! during the grace period, then stops everything it started.
//!
//! Each step prints its name and how long it took (a spinner on a terminal); a failing
//! step says why, and the demo exits non-zero.

use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::conditions::{READY, find};
use crate::api::keys::ROTATE_ANNOTATION;
use crate::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use crate::emulator::{Emulator, EmulatorConfig, RunningEmulator, ServeOptions};
use crate::envtest::{self, ControlPlane};
use crate::snowflake::{
    Account, BearerKind, SnowflakeApi as _, SnowflakeClient, SqlApiClient, SqlApiConfig,
    StaticToken,
};

/// The emulated account, the examples and the OAuth integration's client credentials.
const ACCOUNT_SEED: &str = include_str!("../examples/emulator/account.yaml");
const ADMIN_KEY: &str = include_str!("../examples/admin-key.yaml");
const CONNECTION: &str = include_str!("../examples/connection.yaml");
const SERVICE_USER: &str = include_str!("../examples/service-user.yaml");
const PAT_TOKEN: &str = include_str!("../examples/token-pat.yaml");
const OAUTH_TOKEN: &str = include_str!("../examples/token-oauth.yaml");

/// The field manager of what the demo applies.
const MANAGER: &str = "snowflake-token-operator-demo";
/// How long the objects may take to become Ready, and other waits.
const PATIENCE: Duration = Duration::from_secs(90);

/// Options of `demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Use this context of the kubeconfig instead of starting a local control plane.
    pub kube_context: Option<String>,
    /// Leave everything running until Ctrl-C, printing how to reach it.
    pub keep: bool,
    /// The namespace of the demo's objects.
    pub namespace: String,
    /// The binary whose `run` and `authorize` the demo runs (this one).
    pub binary: PathBuf,
}

/// A failed step.
#[derive(Debug, thiserror::Error)]
#[error("step \"{step}\" failed: {reason}")]
pub struct DemoError {
    /// The step.
    pub step: String,
    /// Why.
    pub reason: String,
}

/// Runs the demo.
pub async fn run(options: DemoOptions) -> Result<(), DemoError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut steps = Steps::new();
    let ns = options.namespace.clone();

    let seed = EmulatorConfig::from_yaml(ACCOUNT_SEED).map_err(|e| DemoError {
        step: "read the emulator's seed".into(),
        reason: e.to_string(),
    })?;
    let emulator = steps
        .step("start the Snowflake emulator", async {
            let running = Emulator::start(
                seed,
                ServeOptions {
                    listen: ([127, 0, 0, 1], 0).into(),
                    test_endpoints: false,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            let url = running.base_url();
            Ok((running, format!("{url} (account MYORG-DEMO)")))
        })
        .await?;

    let cluster = match &options.kube_context {
        None => {
            steps
                .step(
                    "start a local control plane (etcd, kube-apiserver)",
                    async {
                        let plane = ControlPlane::start(envtest::Options::API_ONLY, Vec::new())?;
                        let detail = plane.server.clone();
                        Ok((Cluster::Local(Box::new(plane)), detail))
                    },
                )
                .await?
        }
        Some(context) => {
            steps
                .step(&format!("connect to kube context {context}"), async {
                    let cluster = Cluster::context(context)?;
                    let detail = cluster.kubeconfig().display().to_string();
                    Ok((cluster, detail))
                })
                .await?
        }
    };
    let client = envtest::client_from(cluster.kubeconfig())
        .await
        .map_err(|reason| DemoError {
            step: "connect to the API server".into(),
            reason,
        })?;

    steps
        .step("install the CRDs", async {
            let deadline = Instant::now() + PATIENCE;
            envtest::install_crds(&client, &crate::api::crds(), deadline).await?;
            Ok((
                (),
                "SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken".into(),
            ))
        })
        .await?;

    let mut operator = steps
        .step("start the operator (snowflake-token-operator run)", async {
            let operator = Operator::start(&options.binary, cluster.kubeconfig(), &ns).await?;
            let detail = format!("log in {}", operator.log.display());
            Ok((operator, detail))
        })
        .await?;

    let outcome = demo(
        &mut steps,
        &options,
        &client,
        &emulator,
        &cluster,
        &mut operator,
    )
    .await;
    let outcome = match outcome {
        Err(mut e) => {
            e.reason = format!("{}\n{}", e.reason, operator.log_tail());
            Err(e)
        }
        Ok(()) if options.keep => {
            keep(&emulator, &cluster, &operator, &ns);
            crate::operator::shutdown_signal().await;
            Ok(())
        }
        Ok(()) => Ok(()),
    };

    let stopped = steps
        .step("stop everything the demo started", async {
            operator.stop().await;
            if matches!(cluster, Cluster::Context { .. }) {
                let namespaces: Api<Namespace> = Api::all(client.clone());
                namespaces
                    .delete(&ns, &DeleteParams::background())
                    .await
                    .map_err(|e| format!("cannot delete namespace {ns}: {e}"))?;
            }
            let what = match cluster {
                Cluster::Local(plane) => {
                    tokio::task::spawn_blocking(move || (*plane).stop())
                        .await
                        .map_err(|e| format!("stopping the control plane: {e}"))?;
                    "the operator, the control plane, the emulator"
                }
                Cluster::Context { .. } => {
                    "the operator, the emulator; namespace deleted (the CRDs stay)"
                }
            };
            Ok(((), what.into()))
        })
        .await;
    outcome?;
    stopped?;
    steps.done();
    Ok(())
}

/// The steps between starting the operator and stopping.
async fn demo(
    steps: &mut Steps,
    options: &DemoOptions,
    client: &kube::Client,
    emulator: &RunningEmulator,
    cluster: &Cluster,
    operator: &mut Operator,
) -> Result<(), DemoError> {
    let ns = options.namespace.as_str();
    let manifests = steps
        .step(
            "apply a connection, a service user, a PAT token and an OAuth token",
            async {
                let manifests = Manifests::from_examples(&emulator.base_url())?;
                manifests.apply(client, ns).await?;
                Ok((manifests, "from examples/".into()))
            },
        )
        .await?;

    steps
        .step(
            &format!(
                "authorize OAuth token {} (snowflake-token-operator authorize; the demo plays the browser)",
                manifests.oauth_token
            ),
            async {
                operator.check()?;
                authorize(&options.binary, cluster.kubeconfig(), ns, &manifests.oauth_token).await?;
                Ok(((), "refresh token stored".into()))
            },
        )
        .await?;

    steps
        .step("wait until everything is Ready", async {
            wait_ready(client, ns, &manifests, operator).await?;
            Ok(((), String::new()))
        })
        .await?;
    steps.print(&status_table(client, ns, &manifests).await);
    steps.print(&secrets_masked(client, ns, &manifests).await);

    let pat_secret = manifests.pat_secret.clone();
    let first = steps
        .step(
            "log in to the emulator with the PAT from the Secret",
            async {
                let pat = secret_value(client, ns, &pat_secret, "password").await?;
                let who = login(emulator, &pat, BearerKind::ProgrammaticAccessToken).await?;
                Ok((pat, who))
            },
        )
        .await?;
    steps
        .step(
            "log in to the emulator with the OAuth access token from the Secret",
            async {
                let token =
                    secret_value(client, ns, &manifests.oauth_secret, "access_token").await?;
                let who = login(emulator, &token, BearerKind::OAuth).await?;
                Ok(((), who))
            },
        )
        .await?;

    let second = steps
        .step(
            &format!("force a rotation (annotation {ROTATE_ANNOTATION})"),
            async {
                operator.check()?;
                let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), ns);
                let value = jiff::Timestamp::now().to_string();
                let patch = json!({"metadata": {"annotations": {ROTATE_ANNOTATION: value}}});
                tokens
                    .patch(
                        &manifests.pat_token,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|e| format!("cannot annotate token {}: {e}", manifests.pat_token))?;
                let deadline = Instant::now() + PATIENCE;
                let second = envtest::until(deadline, || async {
                    let now = secret_value(client, ns, &pat_secret, "password")
                        .await
                        .ok()?;
                    (now.expose_secret() != first.expose_secret()).then_some(now)
                })
                .await
                .ok_or_else(|| {
                    format!("Secret {pat_secret} still holds the old PAT after {PATIENCE:?}")
                })?;
                Ok((second, format!("Secret {pat_secret} holds a new PAT")))
            },
        )
        .await?;
    steps
        .step(
            "log in with the old PAT and with the new one: both valid during the grace period",
            async {
                let old = login(emulator, &first, BearerKind::ProgrammaticAccessToken)
                    .await
                    .map_err(|e| format!("the old PAT: {e}"))?;
                let new = login(emulator, &second, BearerKind::ProgrammaticAccessToken)
                    .await
                    .map_err(|e| format!("the new PAT: {e}"))?;
                let grace = manifests.pat["spec"]["programmaticAccessToken"]
                    ["rotatedTokenGracePeriodHours"]
                    .as_u64()
                    .map_or_else(
                        || "its grace period".to_owned(),
                        |h| format!("{h} h (rotatedTokenGracePeriodHours)"),
                    );
                Ok((
                    (),
                    format!(
                        "old: {old}; new: {new}; the old one expires {grace} after the rotation"
                    ),
                ))
            },
        )
        .await?;
    Ok(())
}

/// Where the Kubernetes API is.
enum Cluster {
    /// Started by the demo; stopped when dropped (and in any case when the process exits).
    Local(Box<ControlPlane>),
    /// An existing cluster: a kubeconfig selecting the context, in a folder of its own.
    Context {
        kubeconfig: PathBuf,
        _dir: tempfile::TempDir,
    },
}

impl Cluster {
    fn context(name: &str) -> Result<Self, String> {
        let mut config =
            kube::config::Kubeconfig::read().map_err(|e| format!("kubeconfig: {e}"))?;
        if !config.contexts.iter().any(|c| c.name == name) {
            let known: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "no context {name} in the kubeconfig (it has {known:?})"
            ));
        }
        config.current_context = Some(name.to_owned());
        let dir = tempfile::Builder::new()
            .prefix("sfto-demo-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let kubeconfig = dir.path().join("kubeconfig");
        let yaml = serde_saphyr::to_string(&config).map_err(|e| format!("kubeconfig: {e}"))?;
        write_private(&kubeconfig, &yaml)?;
        Ok(Self::Context {
            kubeconfig,
            _dir: dir,
        })
    }

    fn kubeconfig(&self) -> &Path {
        match self {
            Self::Local(plane) => &plane.kubeconfig,
            Self::Context { kubeconfig, .. } => kubeconfig,
        }
    }

    /// The folder for the operator's log.
    fn dir(&self) -> &Path {
        match self {
            Self::Local(plane) => &plane.dir,
            Self::Context { _dir, .. } => _dir.path(),
        }
    }
}

/// A file only its owner reads (it holds credentials).
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The operator, `run` as a child process.
struct Operator {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Operator {
    async fn start(binary: &Path, kubeconfig: &Path, namespace: &str) -> Result<Self, String> {
        let dir = kubeconfig.parent().unwrap_or(Path::new("."));
        let log = dir.join("operator.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let port = envtest::free_port()?;
        let health = envtest::free_port()?;
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("run")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--namespace={namespace}"))
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            .arg("--log-format=text")
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut operator = Self { child, log };
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{health}/readyz");
        let deadline = Instant::now() + PATIENCE;
        while operator.check().is_ok() && Instant::now() < deadline {
            let answer = http.get(&url).send().await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return Ok(operator);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the operator did not become ready ({url}){}\n{}",
            operator.exit_status(),
            operator.log_tail()
        ))
    }

    /// An error when the operator has exited.
    fn check(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the operator exited ({status})")),
            Err(e) => Err(format!("the operator: {e}")),
        }
    }

    fn exit_status(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => format!(": it exited ({status})"),
            _ => String::new(),
        }
    }

    fn log_tail(&self) -> String {
        envtest::log_tail(&self.log)
    }

    /// SIGTERM, then waits for the graceful shutdown (killed after 10 s).
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The standard library and tokio send only SIGKILL; the POSIX `kill` command
            // asks for the graceful shutdown without an unsafe libc call.
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The demo's objects, from the examples, pointed at the emulator.
struct Manifests {
    secrets: Vec<Value>,
    connection: Value,
    service_user: Value,
    pat: Value,
    oauth: Value,
    oauth_token: String,
    oauth_secret: String,
    pat_token: String,
    pat_secret: String,
}

impl Manifests {
    fn from_examples(emulator_url: &str) -> Result<Self, String> {
        let parse = |name: &str, text: &str| -> Result<Value, String> {
            serde_saphyr::from_str::<Value>(text).map_err(|e| format!("examples/{name}: {e}"))
        };
        let key = parse("admin-key.yaml", ADMIN_KEY)?;
        let mut connection = parse("connection.yaml", CONNECTION)?;
        connection["spec"]["host"] = json!(emulator_url);
        let service_user = parse("service-user.yaml", SERVICE_USER)?;
        let mut pat = parse("token-pat.yaml", PAT_TOKEN)?;
        // No workloads in the demo to restart.
        if let Some(spec) = pat["spec"].as_object_mut() {
            spec.remove("rolloutRestartTargets");
        }
        let oauth = parse("token-oauth.yaml", OAUTH_TOKEN)?;
        let name_of = |v: &Value| {
            v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let secret_of = |v: &Value| {
            v["spec"]["secret"]["name"]
                .as_str()
                .map_or_else(|| name_of(v), str::to_owned)
        };
        // The OAuth client's credentials, as SYSTEM$SHOW_OAUTH_CLIENT_SECRETS would show
        // them: the seed's integration for the token's user.
        let seed: Value = serde_saphyr::from_str(ACCOUNT_SEED)
            .map_err(|e| format!("examples/emulator/account.yaml: {e}"))?;
        let user = oauth["spec"]["user"]["name"].as_str().unwrap_or_default();
        let integration = seed["oauth"]["integrations"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["auto_login_user"] == user))
            .ok_or_else(|| {
                format!("examples/emulator/account.yaml has no OAuth integration for {user}")
            })?;
        let client_secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": oauth["spec"]["oauth"]["clientSecretRef"]["name"]},
            "stringData": {
                "OAUTH_CLIENT_ID": integration["client_id"],
                "OAUTH_CLIENT_SECRET": integration["client_secret"],
            },
        });
        Ok(Self {
            secrets: vec![key, client_secret],
            oauth_token: name_of(&oauth),
            oauth_secret: secret_of(&oauth),
            pat_token: name_of(&pat),
            pat_secret: secret_of(&pat),
            connection,
            service_user,
            pat,
            oauth,
        })
    }

    async fn apply(&self, client: &kube::Client, ns: &str) -> Result<(), String> {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        namespaces
            .patch(
                ns,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&namespace),
            )
            .await
            .map_err(|e| format!("namespace {ns}: {e}"))?;
        for secret in &self.secrets {
            apply::<Secret>(client, ns, secret).await?;
        }
        apply::<SnowflakeConnection>(client, ns, &self.connection).await?;
        apply::<SnowflakeServiceUser>(client, ns, &self.service_user).await?;
        apply::<SnowflakeToken>(client, ns, &self.pat).await?;
        apply::<SnowflakeToken>(client, ns, &self.oauth).await
    }

    fn names(&self) -> Vec<(&'static str, String)> {
        let name = |v: &Value| {
            v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        vec![
            ("SnowflakeConnection", name(&self.connection)),
            ("SnowflakeServiceUser", name(&self.service_user)),
            ("SnowflakeToken", self.pat_token.clone()),
            ("SnowflakeToken", self.oauth_token.clone()),
        ]
    }
}

/// Server-side applies one object of the examples into `ns`.
async fn apply<K>(client: &kube::Client, ns: &str, manifest: &Value) -> Result<(), String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
        + Serialize,
{
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(manifest),
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("{} {name}: {e}", K::kind(&())))
}

/// Runs `authorize --no-browser`, opens the URL it prints as a browser would (the
/// emulator's integration consents without a login page) and pastes back where the
/// browser ended.
async fn authorize(binary: &Path, kubeconfig: &Path, ns: &str, token: &str) -> Result<(), String> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let mut child = tokio::process::Command::new(binary)
        .arg("authorize")
        .arg(token)
        .arg(format!("--namespace={ns}"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--no-browser")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {} authorize: {e}", binary.display()))?;
    let stderr = child.stderr.take().ok_or("authorize has no stderr")?;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut said = Vec::new();
    let url = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().starts_with("http") {
                return Some(line.trim().to_owned());
            }
            said.push(line);
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| format!("authorize printed no URL: {}", said.join("\n")))?;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let answer = browser
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("opening {url}: {e}"))?;
    let landed = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| {
            format!(
                "the authorization page answered {} without a redirect",
                answer.status()
            )
        })?
        .to_owned();
    let mut stdin = child.stdin.take().ok_or("authorize has no stdin")?;
    stdin
        .write_all(format!("{landed}\n").as_bytes())
        .await
        .map_err(|e| format!("pasting into authorize: {e}"))?;
    drop(stdin);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .map_err(|_| "authorize did not finish".to_owned())?
        .map_err(|e| format!("authorize: {e}"))?;
    let mut rest = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push(line);
    }
    if status.success() {
        Ok(())
    } else {
        Err(format!("authorize failed ({status}): {}", rest.join("\n")))
    }
}

/// Waits until every object is `Ready=True`; on a timeout, says what each one that is not
/// reports.
async fn wait_ready(
    client: &kube::Client,
    ns: &str,
    manifests: &Manifests,
    operator: &mut Operator,
) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        operator.check()?;
        let mut waiting = Vec::new();
        for (kind, name) in manifests.names() {
            let (status, reason, message) = ready_of(client, ns, kind, &name).await;
            if status != "True" {
                waiting.push(format!("{kind} {name}: Ready={status} {reason}: {message}"));
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not Ready after {PATIENCE:?}:\n  {}",
                waiting.join("\n  ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One object of `ns`, if it can be read.
async fn get<K>(client: &kube::Client, ns: &str, name: &str) -> Option<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned,
{
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .ok()
        .flatten()
}

/// The `Ready` condition of one object: status, reason, message.
async fn ready_of(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> (String, String, String) {
    let conditions = match kind {
        "SnowflakeConnection" => get::<SnowflakeConnection>(client, ns, name)
            .await
            .and_then(|o| o.status)
            .map(|s| s.conditions),
        "SnowflakeServiceUser" => get::<SnowflakeServiceUser>(client, ns, name)
            .await
            .and_then(|o| o.status)
            .map(|s| s.conditions),
        _ => get::<SnowflakeToken>(client, ns, name)
            .await
            .and_then(|o| o.status)
            .map(|s| s.conditions),
    }
    .unwrap_or_default();
    find(&conditions, READY).map_or_else(
        || {
            (
                "Unknown".into(),
                "NoStatus".into(),
                "no Ready condition yet".into(),
            )
        },
        |c| (c.status.clone(), c.reason.clone(), c.message.clone()),
    )
}

/// A table of the objects, as `kubectl get snowflake` would show them.
async fn status_table(client: &kube::Client, ns: &str, manifests: &Manifests) -> String {
    let mut rows = vec![[
        "KIND".to_owned(),
        "NAME".to_owned(),
        "READY".to_owned(),
        "REASON".to_owned(),
        "DETAIL".to_owned(),
    ]];
    for (kind, name) in manifests.names() {
        let (status, reason, _) = ready_of(client, ns, kind, &name).await;
        let detail = match kind {
            "SnowflakeConnection" => get::<SnowflakeConnection>(client, ns, &name)
                .await
                .and_then(|c| c.status)
                .and_then(|s| s.public_key_fingerprint)
                .map(|f| format!("key {f}"))
                .unwrap_or_default(),
            "SnowflakeServiceUser" => get::<SnowflakeServiceUser>(client, ns, &name)
                .await
                .map(|u| {
                    let user = u.spec.user_name.unwrap_or_else(|| name.clone());
                    format!("user {}", crate::api::desired::resolve_identifier(&user))
                })
                .unwrap_or_default(),
            _ => get::<SnowflakeToken>(client, ns, &name)
                .await
                .and_then(|t| t.status)
                .map(|s| {
                    let at = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
                        t.as_ref().map_or_else(|| "?".into(), |t| t.0.to_string())
                    };
                    format!(
                        "Secret {}, expires {}, renewed from {}",
                        s.secret_name.unwrap_or_default(),
                        at(&s.expires_at),
                        at(&s.renewal_time)
                    )
                })
                .unwrap_or_default(),
        };
        rows.push([kind.to_owned(), name, status, reason, detail]);
    }
    table(&rows)
}

/// The token Secrets with their keys; values of keys that hold credentials masked.
async fn secrets_masked(client: &kube::Client, ns: &str, manifests: &Manifests) -> String {
    const SHOWN: [&str; 9] = [
        "username",
        "account",
        "host",
        "role",
        "token_name",
        "token_type",
        "expires_at",
        "issued_at",
        "user",
    ];
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut rows = vec![["SECRET".to_owned(), "KEY".to_owned(), "VALUE".to_owned()]];
    for name in [&manifests.pat_secret, &manifests.oauth_secret] {
        let Ok(Some(secret)) = secrets.get_opt(name).await else {
            rows.push([name.clone(), String::new(), "(missing)".into()]);
            continue;
        };
        for (key, value) in secret.data.unwrap_or_default() {
            let text = String::from_utf8_lossy(&value.0).into_owned();
            let shown = if SHOWN.contains(&key.as_str()) {
                text
            } else {
                format!("•••••••• ({} bytes, masked)", value.0.len())
            };
            rows.push([secret.metadata.name.clone().unwrap_or_default(), key, shown]);
        }
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("    ");
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One key of a Secret.
async fn secret_value(
    client: &kube::Client,
    ns: &str,
    name: &str,
    key: &str,
) -> Result<SecretString, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = secrets
        .get(name)
        .await
        .map_err(|e| format!("reading Secret {name}: {e}"))?;
    secret
        .data
        .and_then(|d| d.get(key).cloned())
        .and_then(|v| String::from_utf8(v.0).ok())
        .map(SecretString::from)
        .ok_or_else(|| format!("Secret {name} has no key {key}"))
}

/// Logs in to the emulator with `credential` and says as whom.
async fn login(
    emulator: &RunningEmulator,
    credential: &SecretString,
    kind: BearerKind,
) -> Result<String, String> {
    let account =
        Account::new("myorg-demo", Some(&emulator.base_url())).map_err(|e| e.to_string())?;
    let auth = Arc::new(StaticToken::new(credential.clone(), kind));
    let api =
        SqlApiClient::new(account, auth, SqlApiConfig::default()).map_err(|e| e.to_string())?;
    let identity = SnowflakeClient::new(api)
        .verify_identity()
        .await
        .map_err(|e| format!("Snowflake refused it: {e}"))?;
    Ok(format!(
        "logged in as {} with role {}",
        identity.user,
        identity.role.unwrap_or_else(|| "(none)".into())
    ))
}

/// What `--keep` prints before waiting for Ctrl-C.
fn keep(emulator: &RunningEmulator, cluster: &Cluster, operator: &Operator, ns: &str) {
    let kubeconfig = cluster.kubeconfig().display();
    println!(
        "\nEverything keeps running until Ctrl-C:\n\
         \x20   export KUBECONFIG={kubeconfig}\n\
         \x20   kubectl get snowflake -n {ns}\n\
         \x20   kubectl describe sftoken -n {ns}\n\
         \x20   the emulator:       {url} (account MYORG-DEMO; `snowflake-token-operator emulator --help` for its endpoints)\n\
         \x20   the operator's log: {log}\n\
         \x20   files:              {dir}",
        url = emulator.base_url(),
        log = operator.log.display(),
        dir = cluster.dir().display(),
    );
}

/// Prints the steps: a spinner and the running time on a terminal, plain lines elsewhere.
struct Steps {
    tty: bool,
    began: Instant,
}

impl Steps {
    fn new() -> Self {
        let tty = std::io::stdout().is_terminal();
        println!(
            "snowflake-token-operator demo: the operator on a local emulator, no Snowflake account needed\n"
        );
        Self {
            tty,
            began: Instant::now(),
        }
    }

    /// Runs one step; `work` returns its value and a detail shown after its name.
    async fn step<T>(
        &mut self,
        name: &str,
        work: impl Future<Output = Result<(T, String), String>>,
    ) -> Result<T, DemoError> {
        let began = Instant::now();
        if !self.tty {
            println!("==> {name}");
        }
        let result = if self.tty {
            let mut work = std::pin::pin!(work);
            let mut ticks = tokio::time::interval(Duration::from_millis(100));
            let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let mut frame = 0;
            loop {
                tokio::select! {
                    result = &mut work => break result,
                    _ = ticks.tick() => {
                        print!("\r\x1b[2K{} {name} {:.1}s", frames[frame % frames.len()], began.elapsed().as_secs_f64());
                        let _ = std::io::stdout().flush();
                        frame += 1;
                    }
                }
            }
        } else {
            work.await
        };
        let took = began.elapsed().as_secs_f64();
        let clear = if self.tty { "\r\x1b[2K" } else { "" };
        match result {
            Ok((value, detail)) => {
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                };
                if self.tty {
                    println!("{clear}✓ {name} ({took:.1}s){detail}");
                } else {
                    println!("    ok in {took:.1}s{detail}");
                }
                Ok(value)
            }
            Err(reason) => {
                println!("{clear}✗ {name} failed after {took:.1}s");
                Err(DemoError {
                    step: name.to_owned(),
                    reason,
                })
            }
        }
    }

    fn print(&self, text: &str) {
        println!("{text}");
    }

    fn done(&self) {
        println!(
            "\nThe demo passed in {:.1}s. Next: README \"Install with Helm\" to run the operator in a cluster.",
            self.began.elapsed().as_secs_f64()
        );
    }
}
