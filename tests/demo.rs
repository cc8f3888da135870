//! `snowflake-token-operator demo`, run as a person runs it: the binary, on the kit's
//! control-plane binaries, with its output read as they would read it.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_snowflake-token-operator");

/// The kit's binaries, as `scripts/test` exports them (the demo finds them itself too).
fn demo(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The word after `prefix` in `text`.
fn after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let start = text.find(prefix)? + prefix.len();
    text[start..].split_whitespace().next()
}

fn listening(server: &str) -> bool {
    let address = server.trim_start_matches("https://");
    address
        .parse()
        .is_ok_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

#[test]
fn the_demo_proves_every_credential_and_a_rotation_then_stops_everything() {
    let output = demo(&[]).output().expect("the demo runs");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    for step in [
        "==> start the Snowflake emulator",
        "==> start a local control plane (etcd, kube-apiserver)",
        "==> install the CRDs",
        "==> start the operator (snowflake-token-operator run)",
        "==> apply a connection, a service user, a PAT token and an OAuth token",
        "==> wait until everything is Ready",
        "==> force a rotation",
        "==> stop everything the demo started",
    ] {
        assert!(stdout.contains(step), "{step} missing:\n{stdout}");
    }
    assert_eq!(
        stdout.matches("    ok in ").count(),
        stdout.matches("==> ").count(),
        "every step ends ok (plain lines when not on a terminal):\n{stdout}"
    );
    // The status table: all four Ready.
    for row in [
        "SnowflakeConnection   analytics",
        "SnowflakeServiceUser  powerbi-gateway",
        "SnowflakeToken        powerbi-gateway",
        "SnowflakeToken        tableau",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.contains(row))
            .unwrap_or_else(|| panic!("no status row {row}:\n{stdout}"));
        assert!(line.contains(" True "), "{line}");
    }
    // Each credential logged in as the user it is for; both PATs after the rotation.
    assert!(
        stdout.contains("logged in as POWERBI_GATEWAY with role REPORTING"),
        "{stdout}"
    );
    assert!(
        stdout.contains("logged in as TABLEAU_SVC with role REPORTING"),
        "{stdout}"
    );
    assert!(
        stdout.contains("old: logged in as POWERBI_GATEWAY")
            && stdout.contains("new: logged in as POWERBI_GATEWAY"),
        "{stdout}"
    );
    // Secret values that are credentials are masked; the rest is shown.
    for key in ["password", "access_token", "jdbc_url"] {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(key))
            .unwrap_or_else(|| panic!("no Secret row for {key}:\n{stdout}"));
        assert!(line.contains("masked"), "{line}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("username") && l.contains("POWERBI_GATEWAY")),
        "{stdout}"
    );

    // Nothing is left: the API server does not answer, its folder is gone.
    let server = stdout
        .split_whitespace()
        .find(|w| w.starts_with("https://127.0.0.1:"))
        .expect("the control plane's address is printed");
    assert!(!listening(server), "{server} still answers after the demo");
    let log = after(&stdout, "log in ").expect("the operator's log is printed");
    let dir = std::path::Path::new(log).parent().expect("log folder");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn a_failing_step_is_named_with_its_reason_and_the_demo_exits_non_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .expect("kubeconfig");
    let output = demo(&["--kube-context", "production"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("the demo runs");
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("step \"connect to kube context production\" failed")
            && stderr.contains("no context production"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("==> install the CRDs"),
        "nothing after the failed step:\n{stdout}"
    );
}

#[test]
fn keep_leaves_it_running_for_kubectl_until_stopped() {
    use std::io::{BufRead as _, BufReader};
    let mut child = demo(&["--keep", "--namespace", "kept"])
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut kubeconfig = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        seen.push_str(&line);
        seen.push('\n');
        if let Some(path) = after(&line, "export KUBECONFIG=") {
            kubeconfig = Some(path.to_owned());
        }
        if line.contains("the emulator:") {
            break;
        }
    }
    let kubeconfig = kubeconfig.unwrap_or_else(|| panic!("no kubeconfig printed:\n{seen}"));
    assert!(seen.contains("http://127.0.0.1:"), "{seen}");

    // A person explores with kubectl (the kit's).
    let kubectl = snowflake_token_operator::envtest::Binaries::locate()
        .and_then(|b| b.require("kubectl"))
        .expect("kubectl in the kit");
    let listed = Command::new(kubectl)
        .args([
            "--kubeconfig",
            &kubeconfig,
            "get",
            "snowflaketokens",
            "-n",
            "kept",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    let names = String::from_utf8_lossy(&listed.stdout);
    assert!(
        names.contains("snowflaketoken.snowflake-token-operator.io/powerbi-gateway"),
        "{names} {}",
        String::from_utf8_lossy(&listed.stderr)
    );

    // Stopped as a terminal's Ctrl-C or a SIGTERM would: exits 0, stops everything.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("the demo exits");
    assert!(status.success(), "{seen}{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("==> stop everything")),
        "{}",
        rest.join("\n")
    );
    assert!(
        !std::path::Path::new(&kubeconfig).exists(),
        "the control plane's folder is removed"
    );
}

mod support;

#[tokio::test]
async fn on_an_existing_cluster_it_uses_the_context_and_deletes_its_namespace() {
    use k8s_openapi::api::core::v1::Namespace;
    let plane = support::control_plane(support::Options::API_ONLY);
    let output = demo(&[
        "--kube-context",
        "envtest",
        "--namespace",
        "demo-on-a-cluster",
    ])
    .env("KUBECONFIG", &plane.kubeconfig)
    .output()
    .expect("the demo runs");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("==> connect to kube context envtest"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("start a local control plane"),
        "no control plane of its own:\n{stdout}"
    );
    assert!(
        stdout.contains("namespace deleted (the CRDs stay)"),
        "{stdout}"
    );
    // Its namespace is going (no controller-manager here to finish it), the cluster stays.
    let namespaces: kube::Api<Namespace> = kube::Api::all(plane.client().await);
    let gone = namespaces
        .get_opt("demo-on-a-cluster")
        .await
        .expect("the cluster still answers");
    assert!(
        gone.is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
        "the demo's namespace is deleted"
    );
}
