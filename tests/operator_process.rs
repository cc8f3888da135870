//! The operator as users run it: the `snowflake-token-operator` binary (`run`) against the
//! real control plane (with controller-manager, so namespaces are really deleted) and the
//! emulator started from the same binary.
//! - `kubectl apply` of `examples/` gives Ready resources and a Secret whose password the
//!   official Python connector logs in with; `/metrics` and `/readyz` answer; SIGTERM
//!   stops it cleanly.
//! - Two replicas with `--leader-elect`: one reconciles; SIGKILL it and the other takes over.
//! - Deleting a namespace whose Snowflake is gone does not hang on the finalizers.

#[path = "driver_support/mod.rs"]
mod driver_support;
#[path = "emulator_support/mod.rs"]
mod emulator_support;
#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams};
use serde_json::json;
use snowflake_token_operator::api::SnowflakeToken;

use driver_support::connector::{Login, connector_logins_at};
use support::process::{free_port, spawn_logged};
use support::{ControlPlane, Options, TestNamespace, control_plane, kubectl_ok, wait_for};

const PATIENCE: Duration = Duration::from_secs(90);

fn plane() -> &'static ControlPlane {
    control_plane(Options::FULL)
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_snowflake-token-operator")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child process killed when dropped, logging into a file of the test's directory.
struct Process {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Process {
    fn start(dir: &Path, name: &str, args: &[String]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = spawn_logged(binary(), args, &log);
        Self { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.id().map_or(0, |id| id as i32)
    }
}

async fn http_ok(url: &str) -> bool {
    emulator_support::http()
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn get_text(url: &str) -> String {
    emulator_support::http()
        .get(url)
        .send()
        .await
        .expect("reachable")
        .text()
        .await
        .expect("text")
}

/// The emulator, started from the binary with the example account.
async fn emulator(dir: &Path) -> (Process, String) {
    let port = free_port();
    let process = Process::start(
        dir,
        "emulator",
        &[
            "emulator".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--config".into(),
            root()
                .join("examples/emulator/account.yaml")
                .display()
                .to_string(),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_for(PATIENCE, "the emulator listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    (process, url)
}

/// `snowflake-token-operator run` scoped to `namespace`, with its own metrics and probe
/// ports; returns once `/healthz` answers.
async fn operator(dir: &Path, name: &str, namespace: &str, extra: &[&str]) -> (Process, u16, u16) {
    let (metrics, health) = (free_port(), free_port());
    let mut args = vec![
        "run".to_owned(),
        "--kubeconfig".into(),
        plane().kubeconfig.display().to_string(),
        "--namespace".into(),
        namespace.into(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{metrics}"),
        "--health-addr".into(),
        format!("127.0.0.1:{health}"),
        "--log-format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let process = Process::start(dir, name, &args);
    let url = format!("http://127.0.0.1:{health}/healthz");
    wait_for(PATIENCE, &format!("{name} serving /healthz"), || async {
        http_ok(&url).await.then_some(())
    })
    .await;
    (process, metrics, health)
}

/// `kubectl apply` of every manifest in `examples/`, with the connection pointed at the
/// emulator's port.
async fn apply_examples(dir: &Path, namespace: &str, emulator_url: &str) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let out = dir.join("examples");
    std::fs::create_dir_all(&out).expect("dir");
    for file in files {
        let text = std::fs::read_to_string(&file)
            .expect("example")
            .replace("http://127.0.0.1:8085", emulator_url);
        std::fs::write(out.join(file.file_name().expect("name")), text).expect("written");
    }
    kubectl_ok(
        plane(),
        &[
            "apply",
            "--server-side",
            "-n",
            namespace,
            "-f",
            &out.display().to_string(),
        ],
    )
    .await;
}

async fn ready(client: &kube::Client, namespace: &str, name: &str) -> SnowflakeToken {
    let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), namespace);
    wait_for(
        PATIENCE,
        &format!("SnowflakeToken {name} Ready"),
        || async {
            let token = tokens.get(name).await.ok()?;
            token
                .status
                .as_ref()?
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(token.clone())
        },
    )
    .await
}

async fn password(client: &kube::Client, namespace: &str, secret: &str) -> String {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    wait_for(PATIENCE, &format!("Secret {secret}"), || async {
        let secret = secrets.get_opt(secret).await.ok()??;
        let value = secret.data?.get("password")?.0.clone();
        String::from_utf8(value).ok()
    })
    .await
}

fn signal(process: &Process, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &process.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn run_turns_the_examples_into_a_secret_the_official_driver_logs_in_with() {
    let dir = tempfile::tempdir().expect("dir");
    let ns = TestNamespace::new(plane(), "run-examples").await;
    let client = plane().client().await;
    let (_emulator, url) = emulator(dir.path()).await;
    let (mut operator, metrics, health) = operator(dir.path(), "operator", ns.name(), &[]).await;
    apply_examples(dir.path(), ns.name(), &url).await;

    let token = ready(&client, ns.name(), "powerbi-gateway").await;
    let status = token.status.expect("status");
    assert_eq!(status.user_name.as_deref(), Some("POWERBI_GATEWAY"));
    let value = password(&client, ns.name(), "powerbi-gateway-snowflake").await;
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().expect("addr");
    let spec = json!({"account": "MYORG-DEMO", "user": "POWERBI_GATEWAY", "password": value});
    for (connector, logins) in connector_logins_at(addr, &[spec]).await {
        assert_eq!(
            logins,
            [Login::Ok {
                user: "POWERBI_GATEWAY".into(),
                role: "REPORTING".into()
            }],
            "{connector}"
        );
    }
    let text = kubectl_ok(plane(), &["get", "snowflake", "-n", ns.name()]).await;
    assert!(text.contains("powerbi-gateway"), "{text}");

    assert!(http_ok(&format!("http://127.0.0.1:{health}/readyz")).await);
    let exposition = get_text(&format!("http://127.0.0.1:{metrics}/metrics")).await;
    assert!(
        exposition.contains("snowflake_token_expiry_timestamp_seconds{namespace=\""),
        "{exposition}"
    );
    assert!(exposition.contains("snowflake_operator_reconcile_duration_seconds_bucket"));
    // JSON logs, and no token value in them.
    let logs = operator.logs();
    assert!(logs.lines().any(|l| l.starts_with('{')), "{logs}");
    assert!(!logs.contains(&value));

    signal(&operator, "TERM");
    let exit = tokio::time::timeout(PATIENCE, operator.child.wait())
        .await
        .expect("stops after SIGTERM")
        .expect("status");
    assert!(exit.success(), "{exit:?}: {}", operator.logs());
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over_after_a_kill() {
    let dir = tempfile::tempdir().expect("dir");
    let ns = TestNamespace::new(plane(), "run-leader").await;
    let client = plane().client().await;
    let (_emulator, url) = emulator(dir.path()).await;
    let elect = |id: &'static str| {
        vec![
            "--leader-elect",
            "--leader-election-namespace",
            ns.name(),
            "--identity",
            id,
        ]
    };
    let (first, first_metrics, first_health) =
        operator(dir.path(), "first", ns.name(), &elect("first")).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns.name());
    let holder = || async {
        leases
            .get_opt("snowflake-token-operator")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    };
    wait_for(PATIENCE, "the first replica holding the lease", || async {
        (holder().await.as_deref() == Some("first")).then_some(())
    })
    .await;
    let (second, second_metrics, second_health) =
        operator(dir.path(), "second", ns.name(), &elect("second")).await;
    // The standby is ready (a healthy standby), and does not reconcile.
    assert!(http_ok(&format!("http://127.0.0.1:{second_health}/readyz")).await);
    assert!(http_ok(&format!("http://127.0.0.1:{first_health}/readyz")).await);
    apply_examples(dir.path(), ns.name(), &url).await;
    ready(&client, ns.name(), "powerbi-gateway").await;
    let reconciles = |text: String| {
        text.lines()
            .filter(|l| l.starts_with("snowflake_operator_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    assert!(reconciles(get_text(&format!("http://127.0.0.1:{first_metrics}/metrics")).await) > 0);
    assert_eq!(
        reconciles(get_text(&format!("http://127.0.0.1:{second_metrics}/metrics")).await),
        0,
        "the standby reconciles nothing"
    );

    // The leader dies without a word; the standby takes the lease and carries on.
    signal(&first, "KILL");
    wait_for(PATIENCE, "the second replica holding the lease", || async {
        (holder().await.as_deref() == Some("second")).then_some(())
    })
    .await;
    let token = kubectl_ok(
        plane(),
        &[
            "get",
            "sftoken",
            "powerbi-gateway",
            "-n",
            ns.name(),
            "-o",
            "json",
        ],
    )
    .await;
    let mut another: serde_json::Value = serde_json::from_str(&token).expect("json");
    another["metadata"] = json!({"name": "after-failover"});
    another["spec"]["secret"]["name"] = json!("after-failover");
    another["spec"]["programmaticAccessToken"]["tokenName"] = json!("AFTER_FAILOVER");
    another["spec"]["rolloutRestartTargets"] = json!([]);
    another.as_object_mut().expect("object").remove("status");
    let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), ns.name());
    tokens
        .create(
            &Default::default(),
            &serde_json::from_value(another).expect("token"),
        )
        .await
        .expect("created");
    ready(&client, ns.name(), "after-failover").await;
    assert!(reconciles(get_text(&format!("http://127.0.0.1:{second_metrics}/metrics")).await) > 0);
    drop(second);
}

#[tokio::test]
async fn deleting_a_namespace_whose_snowflake_is_gone_does_not_hang() {
    let dir = tempfile::tempdir().expect("dir");
    let ns = TestNamespace::new(plane(), "run-nsdelete").await;
    let client = plane().client().await;
    let (emulator, url) = emulator(dir.path()).await;
    let (operator, _, _) = operator(dir.path(), "operator", ns.name(), &[]).await;
    apply_examples(dir.path(), ns.name(), &url).await;
    ready(&client, ns.name(), "powerbi-gateway").await;
    // The user is dropped on delete too, so both finalizers are in play.
    kubectl_ok(
        plane(),
        &[
            "patch",
            "sfuser",
            "powerbi-gateway",
            "-n",
            ns.name(),
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"deletionPolicy":"Delete"}}"#,
        ],
    )
    .await;
    let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), ns.name());
    wait_for(PATIENCE, "the finalizers in place", || async {
        let token = tokens.get("powerbi-gateway").await.ok()?;
        (!token.metadata.finalizers?.is_empty()).then_some(())
    })
    .await;
    // Snowflake becomes unreachable, then the whole namespace is deleted.
    drop(emulator);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(ns.name(), &DeleteParams::default())
        .await
        .expect("deleting");
    wait_for(Duration::from_secs(120), "the namespace gone", || async {
        namespaces
            .get_opt(ns.name())
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    drop(operator);
}
