//! (c) The chart's RBAC is exactly what the operator needs. The chart is rendered, its
//! ServiceAccount and RBAC objects applied, and the operator's controllers run in-process
//! as that ServiceAccount (a TokenRequest token), with the namespace, selector and Lease
//! the chart passes on the command line, against the bundled emulator seeded with the
//! chart's demo account. A connection, a service user and a PAT token become Ready and
//! the Secret is written, the token's rollout targets are restarted, a renamed Secret
//! replaces the old one, and deleting the token and the user removes them in Snowflake.
//!
//! Every request the operator sent is kept with its answer: none may be refused (403),
//! and every permission the chart grants must have been used (but those of
//! [`MAY_GO_UNUSED`]), so a missing rule and a superfluous one both fail.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use snowflake_token_operator::api::{SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken};
use snowflake_token_operator::controller::leader::{LeaderElector, LeaseConfig};
use snowflake_token_operator::controller::{self, Config};
use snowflake_token_operator::emulator::{EmulatorConfig, RunningEmulator};
use snowflake_token_operator::metrics::{Health, Metrics};
use snowflake_token_operator::snowflake::{RetryPolicy, SqlApiConfig};

use crate::audit::{Audit, Permission, granted};
use crate::helm::{self, chart, objects, of_kind};
use crate::support::{ControlPlane, TestNamespace, kubectl_ok, wait_for};

/// Generous for a loaded 2-core machine; each step takes a second or two.
const PATIENCE: Duration = Duration::from_secs(60);

/// Granted, but a run of this scenario may not need them (no step can force them):
/// - an Event is patched only to count a repeat of the same event within minutes (an
///   `EventSeries`);
/// - a token is read by name only when a reconcile is woken (by its Secret's event, say)
///   before the watch delivered the operator's own last write of it.
const MAY_GO_UNUSED: [(&str, &str, &str); 2] = [
    ("events.k8s.io", "events", "patch"),
    ("snowflake-token-operator.io", "snowflaketokens", "get"),
];

/// The restart annotation the operator sets on rollout targets.
const RESTARTED_AT: &str = "snowflake-token-operator.io/restarted-at";

/// The Snowflake user the scenario manages.
const USER: &str = "CHART_BI_SVC";

#[tokio::test]
async fn all_namespaces_with_leader_election_the_chart_rbac_is_what_the_operator_uses() {
    scenario(Scope::AllNamespaces).await;
}

#[tokio::test]
async fn single_namespace_the_chart_rbac_is_what_the_operator_uses_and_nothing_outside_is_touched()
{
    scenario(Scope::Namespace).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A ClusterRole; two replicas with leader election; resources selected by label.
    AllNamespaces,
    /// `watchNamespace`: a Role in that namespace, nothing cluster-wide.
    Namespace,
}

async fn scenario(scope: Scope) {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let plane = crate::plane();
    let admin = plane.client().await;
    let release_ns = TestNamespace::new(plane, "chart-rbac").await;
    // The operator's resources live elsewhere than the release, as in a real install.
    let apps = TestNamespace::new(plane, "chart-apps").await;
    // Namespace mode: a namespace the operator must never touch.
    let outside = TestNamespace::new(plane, "chart-outside").await;
    let release = release_ns.name().to_owned();
    let selector_label = ("chart-test", release.clone());
    let set = match scope {
        Scope::AllNamespaces => vec![
            format!("labelSelector={}={}", selector_label.0, selector_label.1),
            "replicaCount=2".to_owned(),
            "leaderElection.enabled=true".to_owned(),
        ],
        Scope::Namespace => vec![format!("watchNamespace={}", apps.name())],
    };
    let rendered = objects(&helm::template(plane, &release, &release, None, &set).await);

    // What the operator is started with: the chart's own flags.
    let args = helm::args(helm::operator_deployment(&rendered));
    let namespace = helm::flag(&args, "--namespace").map(str::to_owned);
    let selector = helm::flag(&args, "--selector").map(str::to_owned);
    let lease = args.iter().any(|a| a == "--leader-elect").then(|| {
        (
            helm::flag(&args, "--leader-election-namespace")
                .expect("--leader-election-namespace")
                .to_owned(),
            helm::flag(&args, "--leader-election-name")
                .expect("--leader-election-name")
                .to_owned(),
        )
    });
    match scope {
        Scope::AllNamespaces => {
            assert_eq!(namespace, None);
            assert_eq!(
                selector.as_deref(),
                Some(format!("{}={}", selector_label.0, selector_label.1).as_str())
            );
            assert!(lease.is_some(), "{args:?}");
        }
        Scope::Namespace => {
            assert_eq!(namespace.as_deref(), Some(apps.name()));
            assert!(lease.is_none(), "{args:?}");
            let bindings = of_kind(&rendered, "ClusterRoleBinding");
            assert!(
                of_kind(&rendered, "ClusterRole").is_empty()
                    && bindings.len() == 1
                    && bindings[0]["roleRef"]["name"] == "system:service-account-issuer-discovery",
                "a single-namespace install needs no cluster-wide RBAC but reading the \
                 cluster's token issuer (rbac.issuerDiscovery): {bindings:?}"
            );
        }
    }

    // The ServiceAccount and RBAC, applied for real.
    let rbac: Vec<&Value> = rendered
        .iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some(
                    "ServiceAccount"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                        | "Role"
                        | "RoleBinding"
                )
            )
        })
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("rbac.json");
    std::fs::write(&file, helm::to_stream(&rbac)).expect("written");
    let file = file.display().to_string();
    kubectl_ok(plane, &["apply", "--server-side", "-f", &file]).await;
    let cleanup = ClusterScoped {
        plane,
        file: file.clone(),
    };

    let mut grants = BTreeSet::new();
    let mut checks = Vec::new();
    for role in rbac
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Role" | "ClusterRole")))
    {
        grants.extend(granted(&role["rules"]));
        let role_ns = role["metadata"]["namespace"].as_str().map(str::to_owned);
        if let Some(role_ns) = &role_ns {
            assert!(
                [apps.name(), release.as_str()].contains(&role_ns.as_str()),
                "a Role in {role_ns}"
            );
        }
        checks.extend(access_checks(
            &role["rules"],
            role_ns.as_deref(),
            apps.name(),
        ));
    }

    // The operator's identity: the rendered ServiceAccount, with a token for it.
    let account = of_kind(&rendered, "ServiceAccount")[0]["metadata"]["name"]
        .as_str()
        .expect("ServiceAccount name")
        .to_owned();
    let token = token_for(&admin, &release, &account).await;
    let as_operator = plane.client_with_token(&token).await;
    wait_for(PATIENCE, "the chart's RBAC to take effect", || async {
        all_allowed(&as_operator, &checks).await.then_some(())
    })
    .await;

    // The operator, as that ServiceAccount, every request kept.
    let audit = Audit::default();
    let client = audit.client(&plane.kubeconfig, &token).await;
    let emulator = emulator().await;
    let identity = format!("{release}-0");
    let leadership = match &lease {
        Some((lease_ns, lease_name)) => {
            let elector = LeaderElector::new(
                client.clone(),
                LeaseConfig {
                    lease_duration: Duration::from_secs(5),
                    renew_interval: Duration::from_secs(1),
                    retry_interval: Duration::from_millis(200),
                    ..LeaseConfig::new(lease_ns, lease_name, &identity)
                },
            );
            let leadership = tokio::time::timeout(PATIENCE, elector.acquire())
                .await
                .expect("the Lease taken in time")
                .expect("the Lease taken as the chart's ServiceAccount");
            let held = Api::<Lease>::namespaced(admin.clone(), lease_ns)
                .get(lease_name)
                .await
                .expect("the Lease exists");
            assert_eq!(
                held.spec.and_then(|s| s.holder_identity).as_deref(),
                Some(identity.as_str())
            );
            Some(leadership)
        }
        None => None,
    };
    let running = controller::start(
        client,
        operator_config(namespace, selector, &identity),
        Arc::new(Metrics::new()),
        Arc::new(Health::default()),
    );

    let labels = match scope {
        Scope::AllNamespaces => json!({ selector_label.0: selector_label.1 }),
        Scope::Namespace => json!({}),
    };
    let world = World {
        admin: admin.clone(),
        ns: apps.name().to_owned(),
        labels,
        emulator,
    };
    world.reconciled().await;
    // Not this operator's: unlabelled beside the selected ones (all-namespaces mode), or
    // in another namespace (namespace mode).
    let ignored = World {
        admin: admin.clone(),
        ns: match scope {
            Scope::AllNamespaces => apps.name().to_owned(),
            Scope::Namespace => outside.name().to_owned(),
        },
        labels: json!({}),
        emulator: world.emulator.clone(),
    };
    ignored
        .apply::<SnowflakeToken>(world.token_manifest("ignored", "ignored-snowflake"))
        .await;
    world.deleted().await;

    running.stop().await;
    if let (Some(leadership), Some((lease_ns, lease_name))) = (leadership, &lease) {
        leadership.release().await;
        let released = Api::<Lease>::namespaced(admin.clone(), lease_ns)
            .get(lease_name)
            .await
            .expect("the Lease exists");
        assert_eq!(
            released.spec.and_then(|s| s.holder_identity),
            None,
            "released for the standby"
        );
    }

    // Nobody touched the resources that were not this operator's.
    let untouched = Api::<SnowflakeToken>::namespaced(admin.clone(), &ignored.ns)
        .get("ignored")
        .await
        .expect("ignored token");
    assert!(
        untouched.status.is_none() && untouched.finalizers().is_empty(),
        "the operator reconciled a token outside its scope: {:?}",
        untouched.status
    );
    assert!(
        Api::<Secret>::namespaced(admin.clone(), &ignored.ns)
            .get_opt("ignored-snowflake")
            .await
            .expect("get")
            .is_none()
    );

    // Both ways: nothing refused, nothing granted in vain.
    let refused_as_expected = |request: &String| {
        // Namespace mode: reading the namespace (to give up cleanup at once when it is
        // being deleted) needs cluster-wide RBAC; the operator does without.
        scope == Scope::Namespace
            && request.starts_with(&format!("GET /api/v1/namespaces/{}?", apps.name()))
    };
    let refused: Vec<String> = audit
        .forbidden()
        .into_iter()
        .filter(|r| !refused_as_expected(r))
        .collect();
    assert!(
        refused.is_empty(),
        "the chart's RBAC refused the operator:\n{}",
        refused.join("\n")
    );
    let used = audit.used();
    let optional: BTreeSet<Permission> = MAY_GO_UNUSED
        .iter()
        .map(|(g, r, v)| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned()))
        .collect();
    let unused: Vec<&Permission> = grants
        .iter()
        .filter(|p| !used.contains(*p) && !optional.contains(*p))
        .collect();
    assert!(
        unused.is_empty(),
        "the chart grants permissions the operator never used: {unused:?}\nused: {used:?}"
    );
    if scope == Scope::Namespace {
        let elsewhere: Vec<String> = audit
            .exchanges()
            .iter()
            .filter_map(|e| {
                let (_, ns) = e.permissions()?;
                (ns.as_deref() != Some(apps.name())).then(|| format!("{} {}", e.method, e.path))
            })
            .filter(|r| *r != format!("GET /api/v1/namespaces/{}", apps.name()))
            .collect();
        assert!(
            elsewhere.is_empty(),
            "requests outside the watched namespace:\n{}",
            elsewhere.join("\n")
        );
    }
    drop(cleanup);
}

/// The ClusterRole and ClusterRoleBinding outlive the test's namespaces: deleted at the
/// end, also when the test fails.
struct ClusterScoped<'a> {
    plane: &'a ControlPlane,
    file: String,
}

impl Drop for ClusterScoped<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(
            self.plane
                .binaries
                .require("kubectl")
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .arg(format!("--kubeconfig={}", self.plane.kubeconfig.display()))
        .args([
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-f",
            &self.file,
        ])
        .output();
    }
}

/// One access check per permission the rules grant: (permission, namespace, name).
fn access_checks(
    rules: &Value,
    role_ns: Option<&str>,
    apps_ns: &str,
) -> Vec<(Permission, Option<String>, Option<String>)> {
    let mut checks = Vec::new();
    for rule in rules.as_array().expect("rules") {
        let name = rule["resourceNames"][0].as_str().map(str::to_owned);
        for permission in granted(&Value::Array(vec![rule.clone()])) {
            let namespace = match (permission.1.as_str(), role_ns) {
                ("namespaces", _) => None,
                (_, Some(ns)) => Some(ns.to_owned()),
                (_, None) => Some(apps_ns.to_owned()),
            };
            let name = match permission.1.as_str() {
                "namespaces" => Some(apps_ns.to_owned()),
                _ => name.clone(),
            };
            checks.push((permission, namespace, name));
        }
    }
    checks
}

/// Whether the API server's authorizer allows every check yet (a new binding takes a
/// moment to reach it); a SelfSubjectAccessReview needs no permission of its own.
async fn all_allowed(
    client: &kube::Client,
    checks: &[(Permission, Option<String>, Option<String>)],
) -> bool {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for ((group, resource, verb), namespace, name) in checks {
        let (resource, subresource) = match resource.split_once('/') {
            Some((resource, sub)) => (resource, Some(sub)),
            None => (resource.as_str(), None),
        };
        let review: SelfSubjectAccessReview = serde_json::from_value(json!({
            "spec": {"resourceAttributes": {
                "group": group, "resource": resource, "subresource": subresource,
                "verb": verb, "namespace": namespace, "name": name,
            }}
        }))
        .expect("review");
        let allowed = reviews
            .create(&PostParams::default(), &review)
            .await
            .ok()
            .and_then(|r| r.status)
            .is_some_and(|s| s.allowed);
        if !allowed {
            return false;
        }
    }
    true
}

/// A TokenRequest token for ServiceAccount `name` (which the chart created).
async fn token_for(client: &kube::Client, ns: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request = serde_json::from_value(json!({"spec": {"expirationSeconds": 3600}}))
        .expect("token request");
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("no token for ServiceAccount {ns}/{name}: {e}"))
        .status
        .expect("token status")
        .token
}

/// The emulator, seeded with the chart's demo account (emulator/account.yaml).
async fn emulator() -> Arc<RunningEmulator> {
    let seed = std::fs::read_to_string(chart().join("emulator/account.yaml")).expect("seed");
    let config = EmulatorConfig::from_yaml(&seed).expect("the chart's emulator seed parses");
    Arc::new(crate::emulator_support::start_with(config, false).await)
}

/// The controllers' settings: the chart's namespace and selector, quick retries.
fn operator_config(namespace: Option<String>, selector: Option<String>, identity: &str) -> Config {
    Config {
        namespace,
        label_selector: selector,
        concurrency: 4,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        snowflake: SqlApiConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            poll_initial: Duration::from_millis(2),
            poll_max: Duration::from_millis(20),
            ..SqlApiConfig::default()
        },
        instance: identity.to_owned(),
        ..Config::default()
    }
}

/// The resources of the scenario, in one namespace, with the labels the operator selects.
struct World {
    admin: kube::Client,
    ns: String,
    labels: Value,
    emulator: Arc<RunningEmulator>,
}

impl World {
    async fn apply<K>(&self, mut manifest: Value) -> K
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        manifest["metadata"]["labels"] = self.labels.clone();
        let name = manifest["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();
        Api::<K>::namespaced(self.admin.clone(), &self.ns)
            .patch(
                &name,
                &PatchParams::apply("chart-tests").force(),
                &Patch::Apply(&manifest),
            )
            .await
            .unwrap_or_else(|e| panic!("cannot apply {} {name}: {e}", K::kind(&())))
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn token_manifest(&self, name: &str, secret: &str) -> Value {
        json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeToken",
            "metadata": {"name": name},
            "spec": {
                "connectionRef": {"name": "demo"},
                "user": {"serviceUserRef": {"name": "bi"}},
                "programmaticAccessToken": {"roleRestriction": "ANALYST", "daysToExpiry": 30},
                "secret": {"name": secret},
                "rolloutRestartTargets": [
                    {"kind": "Deployment", "name": "bi-gateway"},
                    {"kind": "StatefulSet", "name": "bi-gateway"},
                    {"kind": "DaemonSet", "name": "bi-gateway"},
                ],
                "deletionPolicy": "Delete",
            },
        })
    }

    /// A connection, a service user (deleted with its resource) and a PAT token with
    /// three rollout targets: all Ready, the Secret written, its password logs in, the
    /// targets restarted, an event recorded; then a renamed Secret replaces the old one.
    async fn reconciled(&self) {
        let workload = |kind: &str| {
            let mut spec = json!({
                "selector": {"matchLabels": {"app": "bi-gateway"}},
                "template": {
                    "metadata": {"labels": {"app": "bi-gateway"}},
                    "spec": {"containers": [{"name": "gateway", "image": "example.com/gateway:1"}]},
                },
            });
            if kind != "DaemonSet" {
                // No pods: only the pod template's annotation matters here.
                spec["replicas"] = json!(0);
            }
            if kind == "StatefulSet" {
                spec["serviceName"] = json!("bi-gateway");
            }
            json!({
                "apiVersion": "apps/v1",
                "kind": kind,
                "metadata": {"name": "bi-gateway"},
                "spec": spec,
            })
        };
        self.apply::<Deployment>(workload("Deployment")).await;
        self.apply::<StatefulSet>(workload("StatefulSet")).await;
        self.apply::<DaemonSet>(workload("DaemonSet")).await;
        self.apply::<Secret>(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "snowflake-admin-key"},
            "stringData": {"rsa_key.p8": crate::emulator_support::demo_key().private_pem},
        }))
        .await;
        self.apply::<SnowflakeConnection>(json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeConnection",
            "metadata": {"name": "demo"},
            "spec": {
                "account": "myorg-demo",
                "host": self.emulator.base_url(),
                "user": "OPERATOR_ADMIN",
                "role": "USERADMIN",
                "auth": {"keyPair": {"privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}},
            },
        }))
        .await;
        self.apply::<SnowflakeServiceUser>(json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeServiceUser",
            "metadata": {"name": "bi"},
            "spec": {
                "connectionRef": {"name": "demo"},
                "userName": USER,
                "defaultRole": "ANALYST",
                "roles": ["ANALYST"],
                "networkPolicy": "BI_NETWORK_POLICY",
                "deletionPolicy": "Delete",
                // The cluster's own issuer, read with the issuer-discovery binding.
                "workloadIdentity": {"serviceAccounts": ["bi-gateway"]},
            },
        }))
        .await;
        self.apply::<SnowflakeToken>(self.token_manifest("bi", "bi-snowflake"))
            .await;
        self.ready::<SnowflakeConnection>("demo").await;
        self.ready::<SnowflakeServiceUser>("bi").await;
        self.ready::<SnowflakeToken>("bi").await;
        let identities = self
            .emulator
            .snapshot()
            .user(USER)
            .map(|u| u.workload_identities.clone())
            .unwrap_or_default();
        assert_eq!(
            identities
                .iter()
                .map(|w| w.subject.as_str())
                .collect::<Vec<_>>(),
            [format!("system:serviceaccount:{}:bi-gateway", self.ns)],
            "the workload identity trusts the service account"
        );
        self.configured("bi-snowflake").await;

        let password = self.password("bi-snowflake").await;
        let (status, _, body) = crate::emulator_support::post_sql(
            &crate::emulator_support::http(),
            &self.emulator,
            &password,
            "SELECT CURRENT_USER()",
            "",
        )
        .await;
        assert_eq!(status, 200, "the Secret's password logs in: {body}");

        let deployments: Api<Deployment> = self.api();
        let statefulsets: Api<StatefulSet> = self.api();
        let daemonsets: Api<DaemonSet> = self.api();
        wait_for(PATIENCE, "the rollout targets restarted", || async {
            let annotated =
                |template: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>| {
                    template
                        .and_then(|m| m.annotations.as_ref())
                        .is_some_and(|a| a.contains_key(RESTARTED_AT))
                };
            let d = deployments.get("bi-gateway").await.ok()?;
            let s = statefulsets.get("bi-gateway").await.ok()?;
            let ds = daemonsets.get("bi-gateway").await.ok()?;
            (annotated(d.spec?.template.metadata.as_ref())
                && annotated(s.spec?.template.metadata.as_ref())
                && annotated(ds.spec?.template.metadata.as_ref()))
            .then_some(())
        })
        .await;
        let events: Api<Event> = self.api();
        wait_for(PATIENCE, "a Minted event on the token", || async {
            events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("Minted")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("bi")
                })
                .then_some(())
        })
        .await;

        // A new Secret name: the value moves there, the old Secret goes.
        self.apply::<SnowflakeToken>(self.token_manifest("bi", "bi-snowflake-renamed"))
            .await;
        let moved = self.password("bi-snowflake-renamed").await;
        assert_eq!(moved, password, "the same value, in the renamed Secret");
        self.gone::<Secret>("bi-snowflake").await;

        // A new ConfigMap name: written there, the old one deleted.
        let patch = json!({"spec": {"workloadIdentity": {
            "serviceAccounts": ["bi-gateway"],
            "configMap": {"name": "bi-wif"},
        }}});
        self.api::<SnowflakeServiceUser>()
            .patch("bi", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patched");
        self.configured("bi-wif").await;
        self.gone::<ConfigMap>("bi-snowflake").await;
    }

    /// Waits for the workload-identity ConfigMap `name` naming the user.
    async fn configured(&self, name: &str) {
        let api: Api<ConfigMap> = self.api();
        wait_for(PATIENCE, &format!("the ConfigMap {name}"), || async {
            let data = api.get(name).await.ok()?.data?;
            (data.get("SNOWFLAKE_USER").map(String::as_str) == Some(USER)).then_some(())
        })
        .await;
    }

    /// Deleting the token and the user (deletionPolicy Delete) removes them in Snowflake
    /// and releases the resources.
    async fn deleted(&self) {
        let live_pats = || {
            self.emulator
                .snapshot()
                .user(USER)
                .map_or(0, |u| u.pats.len())
        };
        assert!(live_pats() > 0, "the token exists in Snowflake");
        let _ = self
            .api::<SnowflakeToken>()
            .delete("bi", &DeleteParams::default())
            .await;
        self.gone::<SnowflakeToken>("bi").await;
        assert_eq!(live_pats(), 0, "the PAT was removed in Snowflake");
        let _ = self
            .api::<SnowflakeServiceUser>()
            .delete("bi", &DeleteParams::default())
            .await;
        self.gone::<SnowflakeServiceUser>("bi").await;
        assert!(
            self.emulator.snapshot().user(USER).is_none(),
            "the user was dropped in Snowflake"
        );
    }

    /// Waits until `name` is Ready for its current generation.
    async fn ready<K>(&self, name: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        let last = std::sync::Mutex::new(Value::Null);
        let found = crate::support::until(std::time::Instant::now() + PATIENCE, || async {
            let object = api.get(name).await.ok()?;
            let value = serde_json::to_value(&object).ok()?;
            let status = value["status"].clone();
            *last.lock().expect("lock") = status.clone();
            let ready = status["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (ready && status["observedGeneration"] == value["metadata"]["generation"]).then_some(())
        })
        .await;
        assert!(
            found.is_some(),
            "{} {name} did not become Ready; status: {}",
            K::kind(&()),
            last.lock().expect("lock")
        );
    }

    async fn password(&self, secret: &str) -> String {
        let secrets: Api<Secret> = self.api();
        wait_for(PATIENCE, &format!("Secret {secret}"), || async {
            let secret = secrets.get_opt(secret).await.ok()??;
            String::from_utf8(secret.data?.get("password")?.0.clone()).ok()
        })
        .await
    }

    async fn gone<K>(&self, name: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        wait_for(
            PATIENCE,
            &format!("{} {name} to be gone", K::kind(&())),
            || async { api.get_opt(name).await.ok()?.is_none().then_some(()) },
        )
        .await;
    }
}
