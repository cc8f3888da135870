//! One test's world: its own namespace on the shared control plane, its own in-process
#![allow(dead_code)]
//! emulator, and an operator running in-process, scoped to that namespace, on the
//! emulator's clock (advancing it makes a 30-day token due in no time; the harness then
//! asks the operator to reconcile everything, since tokio timers do not see the jump).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use snowflake_token_operator::api::conditions::{READY, find};
use snowflake_token_operator::controller::{self, Config, Running};
use snowflake_token_operator::emulator::{self, EmulatorConfig, RunningEmulator};
use snowflake_token_operator::metrics::{Health, Metrics};
use snowflake_token_operator::snowflake::{Clock, RetryPolicy, SqlApiConfig};

use crate::emulator_support::{self, key, post_sql};
use crate::support::api_faults::ApiFaults;
use crate::support::{ControlPlane, Options, RequestLog, TestNamespace, control_plane, wait_for};

/// How long a condition may take to appear.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn plane() -> &'static ControlPlane {
    control_plane(Options::API_ONLY)
}

/// The emulator's clock, seen through the operator's [`Clock`].
#[derive(Debug)]
pub struct EmulatedTime(pub emulator::Clock);

impl Clock for EmulatedTime {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// The account of these tests: the operator's admin (fixture keys 1 and 2 registered, 3
/// not), a PERSON user, a network policy covering loopback, roles to grant.
pub fn seed() -> EmulatorConfig {
    EmulatorConfig::from_yaml(&seed_yaml()).expect("seed parses")
}

/// [`seed`] as YAML, to extend.
pub fn seed_yaml() -> String {
    format!(
        r#"
account: {{name: MYORG-TEST, locator: XY12345}}
roles: [ANALYST, LOADER, REPORTER]
networkPolicies:
  - {{name: CORP_NP, allowedIpList: ["127.0.0.0/8"]}}
  - {{name: REMOTE_ONLY, allowedIpList: ["10.0.0.0/8"]}}
users:
  - name: OPERATOR_ADMIN
    type: SERVICE
    defaultRole: USERADMIN
    roles: [USERADMIN]
    networkPolicy: CORP_NP
    rsaPublicKey: "{k1}"
    rsaPublicKey2: "{k2}"
  - name: JANE_DOE
    type: PERSON
    defaultRole: ANALYST
    roles: [ANALYST]
  - name: BI_SVC
    type: SERVICE
    defaultRole: ANALYST
    roles: [ANALYST]
    networkPolicy: CORP_NP
  # An admin without the privileges to manage other users' tokens (fixture key 3).
  - name: WEAK_ADMIN
    type: SERVICE
    defaultRole: ANALYST
    roles: [ANALYST]
    networkPolicy: CORP_NP
    rsaPublicKey: "{k3}"
"#,
        k1 = key(1).public_b64,
        k2 = key(2).public_b64,
        k3 = key(3).public_b64
    )
}

/// The integration `authorize` is tested with.
pub const CLI_CLIENT: &str = "cli-client";

/// [`seed`] plus three OAuth integrations for BI_SVC: multi-use and single-use refresh
/// tokens (redirecting nowhere: tests read the redirect) and one for `authorize`
/// redirecting to loopback `cli_port`; refresh tokens live `refresh_days`.
pub fn oauth_seed(refresh_days: u32, cli_port: u16) -> EmulatorConfig {
    let refresh = refresh_days * 86_400;
    let yaml = format!(
        r#"{base}
oauth:
  integrations:
    - name: BI_APP
      client_id: {bi}
      client_secret: "{secret}"
      redirect_uri: {redirect}
      auto_login_user: BI_SVC
      refresh_token_validity_seconds: {refresh}
    - name: SINGLE_USE_APP
      client_id: {single}
      client_secret: "{secret}"
      redirect_uri: {redirect}
      single_use_refresh_tokens_required: true
      auto_login_user: BI_SVC
      refresh_token_validity_seconds: {refresh}
    - name: CLI_APP
      client_id: {CLI_CLIENT}
      client_secret: "{secret}"
      redirect_uri: http://127.0.0.1:{cli_port}/callback
      auto_login_user: BI_SVC
      refresh_token_validity_seconds: {refresh}
"#,
        base = seed_yaml(),
        bi = crate::driver_support::BI_CLIENT,
        single = crate::driver_support::SINGLE_USE_CLIENT,
        secret = crate::driver_support::CLIENT_SECRET,
        redirect = crate::driver_support::REDIRECT_URI
    );
    EmulatorConfig::from_yaml(&yaml).expect("seed parses")
}

/// [`oauth_seed`] (refresh tokens living 90 days) with access tokens living `seconds`
/// (Snowflake's minimum is 60), so they are refreshed every `seconds / 2`.
pub fn oauth_seed_refreshing(seconds: u32) -> EmulatorConfig {
    let mut seed = oauth_seed(90, 9);
    for integration in &mut seed.oauth.integrations {
        integration.access_token_validity_seconds = seconds;
    }
    seed
}

/// Settings of an operator under test: the emulator's clock, short backoff, fast client.
pub fn operator_config(namespace: &str, clock: &emulator::Clock) -> Config {
    Config {
        namespace: Some(namespace.to_owned()),
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
        clock: Arc::new(EmulatedTime(clock.clone())),
        instance: format!("test-{namespace}"),
        ..Config::default()
    }
}

pub struct Env {
    /// The control plane this test runs on: the binary's shared one, or its own.
    pub plane: &'static ControlPlane,
    pub ns: TestNamespace,
    /// The test's own client (its requests are not the operator's).
    pub client: kube::Client,
    pub emulator: RunningEmulator,
    pub operator: Option<Running>,
    pub metrics: Arc<Metrics>,
    /// What `/readyz` answers from.
    pub health: Arc<Health>,
    /// Every request the operator sent to the API server.
    pub requests: RequestLog,
    /// Errors the operator's API server answers instead of the real one, and its watch
    /// streams' cuts.
    pub api_faults: ApiFaults,
}

/// A test that ends without failing ends with the leak check: no credential of the
/// namespace's Secrets in the operator's logs, the events or the statuses.
impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let kubeconfig = self.plane.kubeconfig.clone();
        let namespace = self.ns().to_owned();
        let leaks = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let client = snowflake_token_operator::envtest::client_from(&kubeconfig)
                    .await
                    .expect("a client");
                crate::hygiene::leaks(&client, &namespace).await
            })
        })
        .join()
        .expect("the leak check");
        assert!(
            leaks.is_empty(),
            "credentials of namespace {} appear where none may: {leaks:?}",
            self.ns()
        );
    }
}

impl Env {
    /// A namespace, an emulator and a running operator; no resources yet.
    pub async fn new(prefix: &str) -> Self {
        Self::with_seed(prefix, seed()).await
    }

    pub async fn with_seed(prefix: &str, seed: EmulatorConfig) -> Self {
        let mut env = Self::without_operator(prefix, seed).await;
        env.start_operator().await;
        env
    }

    /// A namespace and an emulator, for a test that runs the operator some other way.
    pub async fn without_operator(prefix: &str, seed: EmulatorConfig) -> Self {
        Self::on_plane(plane(), prefix, seed).await
    }

    /// A namespace on `plane` and an emulator; no operator yet.
    pub async fn on_plane(
        plane: &'static ControlPlane,
        prefix: &str,
        seed: EmulatorConfig,
    ) -> Self {
        // Logs of the operator with RUST_LOG (e.g. RUST_LOG=snowflake_token_operator=debug),
        // and at debug level into the capture the leak check reads.
        crate::hygiene::capture(crate::hygiene::DEBUG);
        let ns = TestNamespace::new(plane, prefix).await;
        let client = plane.client().await;
        let emulator = emulator_support::start_with(seed, true).await;
        Self {
            plane,
            ns,
            client,
            emulator,
            operator: None,
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::default()),
            requests: RequestLog::default(),
            api_faults: ApiFaults::default(),
        }
    }

    pub fn config(&self) -> Config {
        operator_config(self.ns.name(), self.emulator.emulator().clock())
    }

    /// Starts (or restarts) the operator with a fresh process state.
    pub async fn start_operator(&mut self) {
        self.start_operator_with(self.config()).await;
    }

    pub async fn start_operator_with(&mut self, config: Config) {
        if let Some(running) = self.operator.take() {
            running.stop().await;
        }
        let (client, requests) = self.plane.faulty_client(&self.api_faults).await;
        self.requests = requests;
        self.metrics = Arc::new(Metrics::new());
        self.health = Arc::new(Health::default());
        self.operator = Some(controller::start(
            client,
            config,
            self.metrics.clone(),
            self.health.clone(),
        ));
    }

    pub async fn stop_operator(&mut self) {
        if let Some(running) = self.operator.take() {
            running.stop().await;
        }
    }

    pub fn ns(&self) -> &str {
        self.ns.name()
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), self.ns())
    }

    /// Applies `manifest` (any kind) with the test's field manager.
    pub async fn apply<K>(&self, manifest: Value) -> K
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let name = manifest["metadata"]["name"]
            .as_str()
            .expect("manifest has a name")
            .to_owned();
        self.api::<K>()
            .patch(
                &name,
                &PatchParams::apply("tests").force(),
                &Patch::Apply(&manifest),
            )
            .await
            .unwrap_or_else(|e| panic!("cannot apply {name}: {e}"))
    }

    /// The admin key Secret (fixture key `n`) and a connection `snowflake` using it.
    pub async fn connection(&self, key_n: u8) {
        self.key_secret("snowflake-admin-key", &key(key_n).private_pem)
            .await;
        self.apply::<snowflake_token_operator::api::SnowflakeConnection>(json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeConnection",
            "metadata": {"name": "snowflake"},
            "spec": {
                "account": "myorg-test",
                "host": self.emulator.base_url(),
                "user": "operator_admin",
                "role": "useradmin",
                "auth": {"keyPair": {"privateKeySecretRef": {"name": "snowflake-admin-key", "key": "rsa_key.p8"}}},
            }
        }))
        .await;
    }

    /// [`Self::connection`] with fixture key 1, verified.
    pub async fn ready_connection(&self) {
        self.connection(1).await;
        self.wait_ready::<snowflake_token_operator::api::SnowflakeConnection>(
            "snowflake",
            "True",
            None,
        )
        .await;
    }

    /// Applies a SnowflakeServiceUser and waits until it is Ready.
    pub async fn ready_service_user(&self, name: &str, spec: Value) {
        self.apply::<snowflake_token_operator::api::SnowflakeServiceUser>(service_user(name, spec))
            .await;
        self.wait_ready::<snowflake_token_operator::api::SnowflakeServiceUser>(name, "True", None)
            .await;
    }

    pub async fn key_secret(&self, name: &str, pem: &str) {
        self.apply::<Secret>(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "stringData": {"rsa_key.p8": pem},
        }))
        .await;
    }

    /// Waits until `name`'s Ready condition has `status` and (if given) `reason`.
    pub async fn wait_ready<K>(&self, name: &str, status: &str, reason: Option<&str>) -> K
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        let what = format!("{} {name} Ready={status} {reason:?}", K::kind(&()));
        let last = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let found = crate::support::until(std::time::Instant::now() + PATIENCE, || {
            let api = api.clone();
            let last = last.clone();
            async move {
                let object = api.get(name).await.ok()?;
                let value = serde_json::to_value(&object).ok()?;
                let conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> =
                    serde_json::from_value(value["status"]["conditions"].clone())
                        .unwrap_or_default();
                let ready = find(&conditions, READY);
                *last.lock().expect("lock") =
                    format!("{:?}", ready.map(|c| (&c.status, &c.reason, &c.message)));
                let generation = object.meta().generation;
                let observed = value["status"]["observedGeneration"].as_i64();
                (ready.is_some_and(|c| c.status == status && reason.is_none_or(|r| c.reason == r))
                    && observed == generation)
                    .then_some(object)
            }
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; last Ready: {}",
                last.lock().expect("lock")
            )
        })
    }

    /// The data of Secret `name`, as text.
    pub async fn secret_data(
        &self,
        name: &str,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        let secret = self.api::<Secret>().get_opt(name).await.expect("get")?;
        Some(
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect(),
        )
    }

    /// The `password` of Secret `name` once it differs from `not`.
    pub async fn wait_password(&self, name: &str, not: Option<&str>) -> String {
        wait_for(
            PATIENCE,
            &format!("a new password in Secret {name}"),
            || async {
                let data = self.secret_data(name).await?;
                let password = data.get("password")?.clone();
                (Some(password.as_str()) != not).then_some(password)
            },
        )
        .await
    }

    /// Moves the emulated time (operator and emulator share it) and asks the operator to
    /// reconcile everything.
    pub fn advance(&self, by: SignedDuration) {
        self.emulator.advance_clock(by);
        self.resync();
    }

    pub fn resync(&self) {
        if let Some(running) = &self.operator {
            running.resync();
        }
    }

    /// Runs SQL in the emulator as its admin (a person changing Snowflake by hand).
    pub fn admin_sql(&self, sql: &str) -> emulator::ResultSet {
        self.emulator
            .emulator()
            .execute(&emulator_support::admin(), sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    /// Whether `pat` authenticates (SQL API bearer) and runs `SELECT CURRENT_USER()`.
    pub async fn pat_works(&self, pat: &str) -> bool {
        let (status, _, _) = post_sql(
            &emulator_support::http(),
            &self.emulator,
            pat,
            "SELECT CURRENT_USER()",
            "",
        )
        .await;
        status == 200
    }

    /// The user's tokens in the emulator, including rotated-out ones.
    pub fn pats_of(&self, user: &str) -> Vec<emulator::state::PatSnapshot> {
        self.emulator
            .snapshot()
            .user(user)
            .map(|u| u.pats.clone())
            .unwrap_or_default()
    }

    /// Events about `name` in the namespace, as `reason: note`.
    pub async fn events_of(&self, name: &str) -> Vec<String> {
        let events: Api<Event> = self.api();
        events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .map(|e| {
                format!(
                    "{}: {}",
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                )
            })
            .collect()
    }

    /// The type (`Normal`, `Warning`) of the first event `reason` on `name`, once there is one.
    pub async fn wait_event_type(&self, name: &str, reason: &str) -> String {
        let events: Api<Event> = self.api();
        wait_for(PATIENCE, &format!("event {reason} on {name}"), || async {
            events
                .list(&ListParams::default())
                .await
                .expect("events")
                .items
                .into_iter()
                .find(|e| {
                    e.involved_object.name.as_deref() == Some(name)
                        && e.reason.as_deref() == Some(reason)
                })
                .and_then(|e| e.type_)
        })
        .await
    }

    pub async fn wait_event(&self, name: &str, reason: &str) -> String {
        wait_for(PATIENCE, &format!("event {reason} on {name}"), || async {
            self.events_of(name)
                .await
                .into_iter()
                .find(|e| e.starts_with(&format!("{reason}:")))
        })
        .await
    }

    pub async fn delete<K>(&self, name: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let _ = self.api::<K>().delete(name, &DeleteParams::default()).await;
    }

    pub async fn gone<K>(&self, name: &str)
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
            || {
                let api = api.clone();
                async move {
                    api.get_opt(name)
                        .await
                        .ok()
                        .flatten()
                        .is_none()
                        .then_some(())
                }
            },
        )
        .await;
    }
}

/// A SnowflakeServiceUser manifest.
pub fn service_user(name: &str, spec: Value) -> Value {
    let mut full = json!({"connectionRef": {"name": "snowflake"}});
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(extra.clone());
    }
    json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeServiceUser",
        "metadata": {"name": name},
        "spec": full,
    })
}

/// A SnowflakeToken manifest for a PAT of `user` (a `{"name": ..}` or
/// `{"serviceUserRef": ..}` object).
pub fn pat_token(name: &str, user: Value, pat: Value, extra: Value) -> Value {
    token(name, user, "programmaticAccessToken", pat, extra)
}

/// A SnowflakeToken manifest whose credential is `credential` under `kind`
/// (`programmaticAccessToken`, `oauth`, `keyPair`), with `extra` spec fields.
pub fn token(name: &str, user: Value, kind: &str, credential: Value, extra: Value) -> Value {
    let mut spec = json!({
        "connectionRef": {"name": "snowflake"},
        "user": user,
        kind: credential,
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "snowflake-token-operator.io/v1alpha1",
        "kind": "SnowflakeToken",
        "metadata": {"name": name},
        "spec": spec,
    })
}
