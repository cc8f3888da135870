//! `snowflake-token-operator status`, run as a person or a script runs it: the binary
//! against the real API server, with objects whose `status` each test writes itself (no
//! operator runs), so Ready, not Ready and expiring states are exact.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use support::{ControlPlane, Options, TestNamespace, control_plane, wait_for};

const BINARY: &str = env!("CARGO_BIN_EXE_snowflake-token-operator");
const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn plane() -> &'static ControlPlane {
    control_plane(Options::API_ONLY)
}

/// `now + offset`, whole seconds, as the API stores it. Offsets in the tests keep half an
/// hour of margin from any unit boundary, so the relative times printed are exact.
fn at(offset: i64) -> String {
    Timestamp::from_second(Timestamp::now().as_second() + offset)
        .expect("valid time")
        .to_string()
}

fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": at(-DAY), "observedGeneration": 1,
    })
}

/// The binary's result: exit code, stdout, stderr.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    fn json(&self) -> Vec<Value> {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self}"))
    }

    /// The table's rows (after the header, before the blank line), split into columns.
    fn rows(&self) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

/// Runs `status` with `kubeconfig` (no `--kubeconfig` when `None`) and `args`.
async fn status_with(kubeconfig: Option<&Path>, args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(BINARY);
    command.arg("status");
    if let Some(path) = kubeconfig {
        command.arg("--kubeconfig").arg(path);
    }
    let output: Output = command
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("SFTO_KUBECONFIG")
        .env("COLUMNS", "120")
        .env("HOME", "/nonexistent")
        .output()
        .await
        .expect("the binary runs");
    Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn status(args: &[&str]) -> Run {
    status_with(Some(&plane().kubeconfig), args).await
}

async fn set_status<K>(client: &kube::Client, ns: &str, name: &str, status: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap_or_else(|e| panic!("status of {name}: {e}"));
}

async fn create<K>(client: &kube::Client, ns: &str, object: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).expect("manifest");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create: {e}"))
}

async fn connection(client: &kube::Client, ns: &str, name: &str, condition: Value) {
    create::<SnowflakeConnection>(
        client,
        ns,
        json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeConnection",
            "metadata": {"name": name},
            "spec": {"account": "myorg-demo", "user": "OPERATOR_ADMIN", "auth": {"keyPair": {
                "privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}}},
        }),
    )
    .await;
    set_status::<SnowflakeConnection>(
        client,
        ns,
        name,
        json!({"conditions": [condition], "observedGeneration": 1}),
    )
    .await;
}

async fn service_user(client: &kube::Client, ns: &str, name: &str, condition: Value) {
    create::<SnowflakeServiceUser>(
        client,
        ns,
        json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeServiceUser",
            "metadata": {"name": name},
            "spec": {"connectionRef": {"name": "analytics"}, "networkPolicy": "BI_IPS"},
        }),
    )
    .await;
    set_status::<SnowflakeServiceUser>(
        client,
        ns,
        name,
        json!({"conditions": [condition], "observedGeneration": 1,
               "userName": name.to_uppercase().replace('-', "_")}),
    )
    .await;
}

/// A PAT token with, when given, this Ready condition, expiry and renewal (offsets from
/// now); without, a token the operator never reconciled.
async fn pat(client: &kube::Client, ns: &str, name: &str, status: Option<(Value, i64, i64)>) {
    create::<SnowflakeToken>(
        client,
        ns,
        json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeToken",
            "metadata": {"name": name},
            "spec": {"connectionRef": {"name": "analytics"}, "user": {"name": "BI_SVC"},
                     "programmaticAccessToken": {"roleRestriction": "REPORTING"}},
        }),
    )
    .await;
    if let Some((condition, expires, renews)) = status {
        set_status::<SnowflakeToken>(
            client,
            ns,
            name,
            json!({
                "conditions": [condition], "observedGeneration": 1,
                "credentialType": "ProgrammaticAccessToken", "userName": "BI_SVC",
                "tokenName": name.to_uppercase(), "secretName": format!("{name}-snowflake"),
                "expiresAt": at(expires), "renewalTime": at(renews),
                "lastRotationTime": at(-20 * DAY - 30 * MINUTE),
            }),
        )
        .await;
    }
}

/// A Ready OAuth token whose access token expires at `access` and refresh token at
/// `refresh` (offsets from now).
async fn oauth(client: &kube::Client, ns: &str, name: &str, access: i64, refresh: i64) {
    create::<SnowflakeToken>(
        client,
        ns,
        json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1", "kind": "SnowflakeToken",
            "metadata": {"name": name},
            "spec": {"connectionRef": {"name": "analytics"}, "user": {"name": "TABLEAU_SVC"},
                     "oauth": {"clientSecretRef": {"name": "tableau-oauth-client"},
                               "refreshTokenSecretRef": {"name": "tableau-refresh-token", "key": "refresh_token"}},
                     "secret": {"name": format!("{name}-oauth")}},
        }),
    )
    .await;
    set_oauth_times(client, ns, name, access, refresh).await;
}

async fn set_oauth_times(client: &kube::Client, ns: &str, name: &str, access: i64, refresh: i64) {
    set_status::<SnowflakeToken>(
        client,
        ns,
        name,
        json!({
            "conditions": [ready("True", "Refreshed", "access token refreshed (multi-use refresh tokens)")],
            "observedGeneration": 1, "credentialType": "OAuth", "userName": "TABLEAU_SVC",
            "secretName": format!("{name}-oauth"),
            "expiresAt": at(access), "accessTokenExpiresAt": at(access),
            "renewalTime": at(access - 2 * MINUTE), "lastRotationTime": at(access - 10 * MINUTE),
            "refreshTokenExpiresAt": at(refresh),
        }),
    )
    .await;
}

/// The demo's objects, and trouble: a PAT that cannot reach Snowflake, one expiring in
/// two days, one never reconciled.
async fn fleet(client: &kube::Client, ns: &str) {
    connection(
        client,
        ns,
        "analytics",
        ready("True", "Verified", "verified as OPERATOR_ADMIN"),
    )
    .await;
    service_user(
        client,
        ns,
        "powerbi-gateway",
        ready("True", "Converged", "user POWERBI_GATEWAY"),
    )
    .await;
    let minted = || ready("True", "Minted", "Secret written");
    pat(
        client,
        ns,
        "powerbi-gateway",
        Some((minted(), 30 * DAY + 30 * MINUTE, 10 * DAY + 30 * MINUTE)),
    )
    .await;
    pat(
        client,
        ns,
        "dbt",
        Some((
            ready("False", "SnowflakeUnavailable", "Snowflake did not answer (connection refused); the Secret keeps its value, retrying"),
            40 * DAY + 30 * MINUTE,
            20 * DAY + 30 * MINUTE,
        )),
    )
    .await;
    pat(
        client,
        ns,
        "airflow",
        Some((minted(), 2 * DAY + 30 * MINUTE, -DAY - 30 * MINUTE)),
    )
    .await;
    pat(client, ns, "fresh", None).await;
    oauth(
        client,
        ns,
        "tableau",
        8 * MINUTE + 30,
        60 * DAY + 30 * MINUTE,
    )
    .await;
}

#[tokio::test]
async fn the_table_shows_the_most_urgent_first_and_says_what_needs_attention() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "status-table").await;
    let client = plane.client().await;
    fleet(&client, ns.name()).await;

    let run = status(&["-n", ns.name()]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stderr, "", "{run}");
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "KIND", "NAME", "READY", "REASON", "USER", "EXPIRES", "RENEWS", "MESSAGE"
        ],
        "{run}"
    );
    let rows = run.rows();
    let first: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().take(7).map(String::as_str).collect())
        .collect();
    assert_eq!(
        first,
        [
            // Not Ready first (the one with an expiry before the one without) ...
            vec![
                "Token/PAT",
                "dbt",
                "False",
                "SnowflakeUnavailable",
                "BI_SVC",
                "in 40d",
                "in 20d"
            ],
            vec!["Token/PAT", "fresh", "Unknown", "-", "BI_SVC", "-", "-"],
            // ... then the soonest expiry: a PAT's, an OAuth token's refresh token's ...
            vec![
                "Token/PAT",
                "airflow",
                "True",
                "Minted",
                "BI_SVC",
                "in 2d",
                "1d ago"
            ],
            vec![
                "Token/PAT",
                "powerbi-gateway",
                "True",
                "Minted",
                "BI_SVC",
                "in 30d",
                "in 10d"
            ],
            vec![
                "Token/OAuth",
                "tableau",
                "True",
                "Refreshed",
                "TABLEAU_SVC",
                "in 60d",
                &rows[4][6]
            ],
            // ... then what never expires, by kind.
            vec![
                "Connection",
                "analytics",
                "True",
                "Verified",
                "OPERATOR_ADMIN",
                "-",
                "-"
            ],
            vec![
                "ServiceUser",
                "powerbi-gateway",
                "True",
                "Converged",
                "POWERBI_GATEWAY",
                "-",
                "-"
            ],
        ],
        "{run}"
    );
    assert!(
        rows[0][7].starts_with("Snowflake did not") && rows[0][7].ends_with('…'),
        "cut: {run}"
    );
    // The next refresh, in minutes and seconds (seconds pass while the test runs).
    assert!(
        rows[4][6].starts_with("in 6m") || rows[4][6].starts_with("in 5m"),
        "{run}"
    );
    assert_eq!(rows[1].len(), 7, "no message yet: {run}");
    for line in run.stdout.lines().take(1 + rows.len()) {
        assert!(line.chars().count() <= 120, "wider than 120: {line}\n{run}");
    }
    assert!(
        !run.stdout.contains("-snowflake"),
        "no Secret column in the table: {run}"
    );
    let n = ns.name();
    assert_eq!(
        run.last_line(),
        format!(
            "3 need attention: SnowflakeToken {n}/dbt not Ready (SnowflakeUnavailable); \
             SnowflakeToken {n}/fresh no status yet (is the operator running?); \
             SnowflakeToken {n}/airflow expires in 2d"
        ),
        "{run}"
    );

    // wide: every column, absolute times, the whole message.
    let wide = status(&["-n", n, "-o", "wide"]).await;
    assert_eq!(wide.code, 1, "{wide}");
    let header: Vec<&str> = wide
        .stdout
        .lines()
        .next()
        .expect("header")
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "KIND",
            "NAME",
            "READY",
            "REASON",
            "TYPE",
            "USER",
            "EXPIRES",
            "NEXT ROTATION",
            "LAST ROTATION",
            "SECRET",
            "REFRESH TOKEN EXPIRES",
            "MESSAGE",
        ],
        "{wide}"
    );
    let airflow = wide
        .rows()
        .into_iter()
        .find(|r| r[2] == "airflow")
        .expect("airflow row");
    assert_eq!(
        airflow[..7],
        [
            n,
            "SnowflakeToken",
            "airflow",
            "True",
            "Minted",
            "PAT",
            "BI_SVC"
        ],
        "{wide}"
    );
    for time in [&airflow[7], &airflow[8], &airflow[9]] {
        time.parse::<Timestamp>()
            .unwrap_or_else(|e| panic!("{time} is not RFC 3339 ({e}): {wide}"));
    }
    assert_eq!(airflow[10], "airflow-snowflake", "{wide}");
    assert!(
        wide.stdout.contains(
            "Snowflake did not answer (connection refused); the Secret keeps its value, retrying"
        ),
        "{wide}"
    );
    assert!(
        wide.stdout
            .lines()
            .next_back()
            .expect("summary")
            .starts_with("3 need attention"),
        "{wide}"
    );
}

#[tokio::test]
async fn json_and_yaml_are_lists_of_objects_with_every_field() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "status-json").await;
    let client = plane.client().await;
    fleet(&client, ns.name()).await;

    let run = status(&["-n", ns.name(), "-o", "json"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.starts_with("3 need attention: "),
        "summary on stderr, stdout is only JSON: {run}"
    );
    let items = run.json();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "dbt",
            "fresh",
            "airflow",
            "powerbi-gateway",
            "tableau",
            "analytics",
            "powerbi-gateway"
        ],
        "{run}"
    );
    let tableau = items
        .iter()
        .find(|i| i["name"] == "tableau")
        .expect("tableau");
    assert_eq!(tableau["namespace"], ns.name());
    assert_eq!(tableau["kind"], "SnowflakeToken");
    assert_eq!(tableau["ready"], "True");
    assert_eq!(tableau["reason"], "Refreshed");
    assert_eq!(tableau["credentialType"], "OAuth");
    assert_eq!(tableau["user"], "TABLEAU_SVC");
    assert_eq!(tableau["secretName"], "tableau-oauth");
    assert_eq!(tableau["needsAttention"], false);
    assert_eq!(tableau["attention"], json!([]));
    for key in [
        "expiresAt",
        "renewalTime",
        "lastRotationTime",
        "refreshTokenExpiresAt",
    ] {
        let text = tableau[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {tableau}"));
        text.parse::<Timestamp>()
            .unwrap_or_else(|e| panic!("{key} {text}: {e}"));
    }
    let airflow = items
        .iter()
        .find(|i| i["name"] == "airflow")
        .expect("airflow");
    assert_eq!(airflow["credentialType"], "PAT");
    assert_eq!(airflow["refreshTokenExpiresAt"], Value::Null);
    assert_eq!(airflow["needsAttention"], true);
    assert_eq!(airflow["attention"], json!(["expires in 2d"]));
    let fresh = items.iter().find(|i| i["name"] == "fresh").expect("fresh");
    assert_eq!(
        (&fresh["ready"], &fresh["reason"]),
        (&json!("Unknown"), &Value::Null)
    );
    let connection = items
        .iter()
        .find(|i| i["kind"] == "SnowflakeConnection")
        .expect("connection");
    assert_eq!(connection["user"], "OPERATOR_ADMIN");
    assert_eq!(connection["credentialType"], Value::Null);
    let keys = |item: &Value| {
        let mut keys: Vec<String> = item.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    for item in &items {
        assert_eq!(keys(item), keys(tableau), "one shape for every kind");
    }

    let yaml = status(&["-n", ns.name(), "-o", "yaml"]).await;
    assert_eq!(yaml.code, 1, "{yaml}");
    let parsed: Vec<Value> =
        serde_saphyr::from_str(&yaml.stdout).unwrap_or_else(|e| panic!("not YAML ({e}): {yaml}"));
    assert_eq!(parsed, items, "the same list as YAML");
}

#[tokio::test]
async fn scope_namespace_all_namespaces_context_and_name() {
    let plane = plane();
    let one = TestNamespace::new(plane, "status-one").await;
    let two = TestNamespace::new(plane, "status-two").await;
    let client = plane.client().await;
    // A name of its own, so that -A sees only this test's objects of that name.
    let shared = format!("shared-{}", &one.name()[one.name().len() - 8..]);
    let far = || {
        Some((
            ready("True", "Minted", "ok"),
            30 * DAY + 30 * MINUTE,
            10 * DAY + 30 * MINUTE,
        ))
    };
    pat(&client, one.name(), &shared, far()).await;
    pat(&client, one.name(), "only-in-one", far()).await;
    pat(
        &client,
        two.name(),
        &shared,
        Some((
            ready("False", "TokenDisabled", "disabled in Snowflake"),
            30 * DAY,
            10 * DAY,
        )),
    )
    .await;
    connection(
        &client,
        two.name(),
        &shared,
        ready("True", "Verified", "ok"),
    )
    .await;

    let names = |run: &Run| -> Vec<String> {
        run.json()
            .iter()
            .map(|i| {
                format!(
                    "{}/{}/{}",
                    i["namespace"].as_str().unwrap_or("?"),
                    i["kind"].as_str().unwrap_or("?"),
                    i["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    };
    let (a, b) = (one.name(), two.name());

    let run = status(&["-n", a, "-o", "json"]).await;
    assert_eq!(run.code, 0, "{run}");
    let mut seen = names(&run);
    seen.sort();
    let mut expected = vec![
        format!("{a}/SnowflakeToken/only-in-one"),
        format!("{a}/SnowflakeToken/{shared}"),
    ];
    expected.sort();
    assert_eq!(seen, expected, "{run}");
    let table = status(&["-n", a]).await;
    assert_eq!(
        table.last_line(),
        "2 checked: all Ready, nothing expires within 3d.",
        "{table}"
    );

    // -A with NAME: that name in every namespace, the not Ready one first.
    let run = status(&["-A", &shared, "-o", "json"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        names(&run),
        [
            format!("{b}/SnowflakeToken/{shared}"),
            format!("{a}/SnowflakeToken/{shared}"),
            format!("{b}/SnowflakeConnection/{shared}")
        ],
        "{run}"
    );
    let table = status(&["-A", &shared]).await;
    assert_eq!(
        table
            .stdout
            .lines()
            .next()
            .and_then(|h| h.split_whitespace().next()),
        Some("NAMESPACE"),
        "{table}"
    );
    assert_eq!(
        table.rows()[0][..3],
        [b, "Token/PAT", shared.as_str()],
        "{table}"
    );
    assert!(
        table.last_line().starts_with(&format!(
            "1 needs attention: SnowflakeToken {b}/{shared} not Ready (TokenDisabled)"
        )),
        "{table}"
    );
    // -A without NAME sees both namespaces (and whatever other tests run meanwhile).
    let everything = names(&status(&["-A", "-o", "json"]).await);
    for wanted in [
        format!("{a}/SnowflakeToken/only-in-one"),
        format!("{b}/SnowflakeConnection/{shared}"),
    ] {
        assert!(everything.contains(&wanted), "{wanted} missing from -A");
    }

    // NAME in one namespace; a NAME that is not there exits 1 and says so.
    let run = status(&["-n", a, "only-in-one", "-o", "json"]).await;
    assert_eq!(
        (run.code, names(&run)),
        (0, vec![format!("{a}/SnowflakeToken/only-in-one")]),
        "{run}"
    );
    let missing = status(&["-n", b, "only-in-one"]).await;
    assert_eq!(missing.code, 1, "{missing}");
    assert_eq!(missing.stdout, "", "{missing}");
    assert_eq!(
        missing.stderr,
        format!(
            "No SnowflakeConnection, SnowflakeServiceUser or SnowflakeToken named only-in-one in namespace {b}.\n"
        )
    );

    // Nothing at all in a namespace: a clear message, exit 0; JSON prints an empty list.
    let empty = TestNamespace::new(plane, "status-empty").await;
    let run = status(&["-n", empty.name()]).await;
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run}");
    assert_eq!(
        run.stderr,
        format!(
            "No SnowflakeConnection, SnowflakeServiceUser or SnowflakeToken in namespace {}.\n",
            empty.name()
        )
    );
    let run = status(&["-n", empty.name(), "-o", "json"]).await;
    assert_eq!((run.code, run.json()), (0, vec![]), "{run}");

    // Without -n: the kube context's namespace; --context picks another context.
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = kubeconfig_with(&dir, "contexts", |text| {
        let text = replace_once(
            text,
            "    user: admin\n",
            &format!("    user: admin\n    namespace: {b}\n"),
        );
        replace_once(
            &text,
            "current-context:",
            &format!(
                "- name: other\n  context:\n    cluster: envtest\n    user: admin\n    namespace: {a}\ncurrent-context:"
            ),
        )
    });
    let run = status_with(Some(&kubeconfig), &["-o", "json"]).await;
    assert_eq!(names(&run).len(), 2, "{run}");
    assert!(
        names(&run).iter().all(|n| n.starts_with(&format!("{b}/"))),
        "{run}"
    );
    let run = status_with(Some(&kubeconfig), &["--context", "other", "-o", "json"]).await;
    assert_eq!(names(&run).len(), 2, "{run}");
    assert!(
        names(&run).iter().all(|n| n.starts_with(&format!("{a}/"))),
        "{run}"
    );
    // And `default` when the context names none.
    let run = status(&["-o", "json", &shared]).await;
    assert_eq!(
        (run.code, run.json()),
        (1, vec![]),
        "nothing of that name in default: {run}"
    );
    assert!(run.stderr.contains("in namespace default."), "{run}");
}

#[tokio::test]
async fn warn_within_moves_a_pat_in_and_out_of_the_exit_1_set() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "status-window").await;
    let client = plane.client().await;
    let n = ns.name();
    pat(
        &client,
        n,
        "two-days",
        Some((ready("True", "Rotated", "ok"), 2 * DAY + 30 * MINUTE, DAY)),
    )
    .await;

    let default = status(&["-n", n]).await;
    assert_eq!(default.code, 1, "2d is inside the default 72h: {default}");
    assert_eq!(
        default.last_line(),
        format!("1 needs attention: SnowflakeToken {n}/two-days expires in 2d"),
        "{default}"
    );
    let shorter = status(&["-n", n, "--warn-within", "24h"]).await;
    assert_eq!(shorter.code, 0, "{shorter}");
    assert_eq!(
        shorter.last_line(),
        "1 checked: all Ready, nothing expires within 1d.",
        "{shorter}"
    );

    pat(
        &client,
        n,
        "five-days",
        Some((
            ready("True", "Rotated", "ok"),
            5 * DAY + 30 * MINUTE,
            2 * DAY,
        )),
    )
    .await;
    let run = status(&["-n", n, "five-days"]).await;
    assert_eq!(run.code, 0, "5d is outside 72h: {run}");
    let week = status(&["-n", n, "five-days", "--warn-within", "7d"]).await;
    assert_eq!(week.code, 1, "{week}");
    let week = status(&["-n", n, "five-days", "--warn-within", "168h", "-o", "json"]).await;
    assert_eq!(
        (week.code, &week.json()[0]["attention"]),
        (1, &json!(["expires in 5d"])),
        "{week}"
    );

    // Already expired counts even with a zero window.
    pat(
        &client,
        n,
        "expired",
        Some((
            ready("True", "Rotated", "ok"),
            -3 * HOUR - 30 * MINUTE,
            -4 * HOUR,
        )),
    )
    .await;
    let run = status(&["-n", n, "expired", "--warn-within", "0s", "-o", "json"]).await;
    assert_eq!(
        (run.code, &run.json()[0]["attention"]),
        (1, &json!(["expired 3h30m ago"])),
        "{run}"
    );
}

#[tokio::test]
async fn an_oauth_refresh_token_counts_and_its_access_token_does_not() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "status-oauth").await;
    let client = plane.client().await;
    let n = ns.name();
    // The access token expired minutes ago (a refresh is due): not a person's problem.
    oauth(&client, n, "tableau", -5 * MINUTE, 30 * DAY + 30 * MINUTE).await;
    let run = status(&["-n", n]).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.rows()[0][5],
        "in 30d",
        "EXPIRES is the refresh token's: {run}"
    );
    let json = status(&["-n", n, "-o", "json"]).await;
    let item = &json.json()[0];
    assert!(
        item["expiresAt"].as_str().expect("expiresAt")
            < item["refreshTokenExpiresAt"].as_str().expect("refresh"),
        "{json}"
    );

    // The refresh token within the window: exit 1, with the command that fixes it.
    set_oauth_times(&client, n, "tableau", 8 * MINUTE, 2 * DAY + 30 * MINUTE).await;
    let run = status(&["-n", n]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        run.last_line(),
        format!(
            "1 needs attention: SnowflakeToken {n}/tableau refresh token expires in 2d: run snowflake-token-operator authorize -n {n} tableau"
        ),
        "{run}"
    );
    let run = status(&["-n", n, "--warn-within", "1d"]).await;
    assert_eq!(run.code, 0, "{run}");
}

/// Writes a variant of the plane's kubeconfig into `dir`.
fn kubeconfig_with(
    dir: &tempfile::TempDir,
    name: &str,
    edit: impl FnOnce(&str) -> String,
) -> PathBuf {
    let text = std::fs::read_to_string(&plane().kubeconfig).expect("kubeconfig");
    let path = dir.path().join(name);
    std::fs::write(&path, edit(&text)).expect("write kubeconfig");
    path
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} once in the kubeconfig:\n{text}"
    );
    text.replacen(from, to, 1)
}

#[tokio::test]
async fn errors_exit_2_and_say_what_failed() {
    let plane = plane();
    let dir = tempfile::tempdir().expect("temp dir");

    // A server that is not there (a port nobody listens on).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let nowhere = kubeconfig_with(&dir, "nowhere", |text| {
        replace_once(
            text,
            &format!("server: {}", plane.server),
            &format!("server: https://127.0.0.1:{port}"),
        )
    });
    let run = status_with(Some(&nowhere), &["-n", "default"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.stdout, "", "{run}");
    assert!(
        run.stderr.starts_with(&format!(
            "snowflake-token-operator status: cannot reach the API server https://127.0.0.1:{port}/"
        )),
        "{run}"
    );
    assert!(
        run.stderr.to_lowercase().contains("connection refused"),
        "the cause is named: {run}"
    );

    // A context the kubeconfig does not have.
    let run = status(&["--context", "production"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains(r#"the kubeconfig has no context "production" (it has ["envtest"])"#),
        "{run}"
    );

    // A kubeconfig that does not exist.
    let run = status_with(Some(&dir.path().join("missing")), &[]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("cannot read the kubeconfig"), "{run}");

    // A token the API server does not know.
    let stranger = kubeconfig_with(&dir, "stranger", |text| {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("token: "))
            .expect("token line");
        replace_once(text, line, "    token: not-a-known-token")
    });
    let run = status_with(Some(&stranger), &["-n", "default"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("401 Unauthorized"), "{run}");

    // Usage errors, as clap reports them.
    for args in [
        &["-n", "a", "-A"][..],
        &["-o", "xml"],
        &["--warn-within", "soon"],
    ] {
        let run = status(args).await;
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert_eq!(run.stdout, "", "{run}");
    }
}

/// A ServiceAccount's token from the TokenRequest API.
async fn token_for(client: &kube::Client, ns: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("manifest");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    let response: Value = accounts
        .create_subresource(
            "token",
            name,
            &PostParams::default(),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}),
        )
        .await
        .expect("token issued");
    response["status"]["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[tokio::test]
async fn list_on_the_three_kinds_is_all_it_needs_and_a_refusal_is_explained() {
    let plane = plane();
    let ns = TestNamespace::new(plane, "status-rbac").await;
    let admin = plane.client().await;
    let n = ns.name();
    connection(&admin, n, "analytics", ready("True", "Verified", "ok")).await;
    service_user(
        &admin,
        n,
        "powerbi-gateway",
        ready("True", "Converged", "ok"),
    )
    .await;
    pat(
        &admin,
        n,
        "powerbi-gateway",
        Some((
            ready("True", "Minted", "ok"),
            30 * DAY + 30 * MINUTE,
            10 * DAY,
        )),
    )
    .await;

    // Only `list` on the three kinds in this namespace: no Secrets, nothing else.
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "status-reader"},
        "rules": [{"apiGroups": ["snowflake-token-operator.io"],
                   "resources": ["snowflakeconnections", "snowflakeserviceusers", "snowflaketokens"],
                   "verbs": ["list"]}],
    }))
    .expect("role");
    Api::<Role>::namespaced(admin.clone(), n)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "status-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "status-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": n}],
    }))
    .expect("binding");
    Api::<RoleBinding>::namespaced(admin.clone(), n)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let token = token_for(&admin, n, "viewer").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let viewer = kubeconfig_with(&dir, "viewer", |text| {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("token: "))
            .expect("token line");
        replace_once(text, line, &format!("    token: {token}"))
    });

    // The authorizer's cache catches up with the new binding within moments.
    let run = wait_for(
        std::time::Duration::from_secs(30),
        "the RoleBinding to take effect",
        || async {
            let run = status_with(Some(&viewer), &["-n", n]).await;
            (run.code != 2).then_some(run)
        },
    )
    .await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.rows().len(), 3, "{run}");
    assert_eq!(
        run.last_line(),
        "3 checked: all Ready, nothing expires within 3d.",
        "{run}"
    );

    // All namespaces needs a ClusterRole: refused, exit 2, and the message says so.
    let run = status_with(Some(&viewer), &["-A"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.stdout, "", "{run}");
    assert!(run.stderr.contains("refused to list snowflake"), "{run}");
    assert!(
        run.stderr
            .contains("in all namespaces (RBAC, 403 Forbidden)"),
        "{run}"
    );
    assert!(
        run.stderr.contains("system:serviceaccount:"),
        "the API server's words: {run}"
    );
    assert!(run.stderr.contains("ClusterRole"), "what to do: {run}");

    // Another namespace: refused too.
    let run = status_with(Some(&viewer), &["-n", "default"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("in namespace default (RBAC, 403 Forbidden)"),
        "{run}"
    );
}
