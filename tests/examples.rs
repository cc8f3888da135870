//! The manifests in `examples/`, as a user applies them and as the tools they show read
//! the Secret:
//! - every manifest file is accepted by a real API server (`kubectl apply --server-side`,
//!   strict field validation, the CRDs' schema and CEL rules), each in a namespace of its
//!   own, and so is the Secret the operator would write for each of its tokens; a typo or
//!   a rule violation in an example fails the apply (checked with broken copies);
//! - the examples fit together: unique names (`kubectl apply -f examples/` puts them in
//!   one namespace), references to connections, service users, restart targets, Secrets,
//!   keys and ConfigMaps resolve, and a workload taking the token through environment
//!   variables is restarted by the operator;
//! - every Secret template renders through the operator's own code (`desired_secret`)
//!   and parses as its tool reads it (dbt's profiles.yml as YAML, the Snowflake CLI's
//!   connections.toml and config.toml as TOML, JDBC URLs as URLs), with the token where
//!   the tool takes it, both as the examples stand (the emulator) and for a real account;
//! - each consumer workload is wired to what its tool reads: the directory, file, key,
//!   profile, target, connection or environment variable.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, PodSpec, Secret};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use snowflake_token_operator::api::{
    Credential, PrivateKeyFormat, SnowflakeConnection, SnowflakeServiceUser, SnowflakeToken,
};
use snowflake_token_operator::controller::secret::{
    CredentialValue, KeyRecord, SecretContent, desired_secret,
};
use support::{ControlPlane, Options, TestNamespace, control_plane, kubectl};

fn plane() -> &'static ControlPlane {
    control_plane(Options::API_ONLY)
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A PAT as Snowflake shows it once (a JWT-like string: base64url parts and dots).
const PAT: &str = "eyJraWQiOiIxOTY3MzI1NDg4NiIsImFsZyI6IkVTMjU2In0.eyJwIjoiMjY4OTI0MDk6MjcxNTU5MzUiLCJpc3MiOiJTRjoxMDQ4In0.mR4n-dOm_sIgNaTuRe-Z0kPq";
/// An OAuth access token as Snowflake issues it.
const ACCESS_TOKEN: &str =
    "ver:1-hint:4817-ETMsDgAAAZh7aCcEABRBRVMvQ0JDL1BLQ1M1UGFkZGluZwEAABAAEM3JKS9xqXpYOkl";

/// A private key as the operator writes it (a test fixture, registered on no real user).
const PRIVATE_KEY: &str = include_str!("fixtures/emulator/key2.p8.pem");

// ---------------------------------------------------------------------------------------
// Loading the examples

/// One YAML file of `examples/` holding Kubernetes objects.
struct Manifest {
    /// Path relative to `examples/`.
    file: String,
    path: PathBuf,
    docs: Vec<Value>,
}

struct Examples {
    manifests: Vec<Manifest>,
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

impl Examples {
    /// Every YAML file under `examples/` whose documents are Kubernetes objects (the
    /// emulator's seed is not). A file that does not parse, or that mixes objects with
    /// other documents, fails here.
    fn load() -> Self {
        let root = examples_dir();
        let mut files = Vec::new();
        yaml_files(&root, &mut files);
        files.sort();
        let mut manifests = Vec::new();
        for path in files {
            let file = path
                .strip_prefix(&root)
                .expect("under examples/")
                .display()
                .to_string();
            let text = std::fs::read_to_string(&path).expect("readable");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("examples/{file} is not valid YAML: {e}"));
            let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
            let objects = docs.iter().filter(|d| d.get("kind").is_some()).count();
            if objects == 0 {
                continue;
            }
            for doc in &docs {
                assert!(
                    doc["apiVersion"].is_string() && !kind(doc).is_empty() && !name(doc).is_empty(),
                    "examples/{file}: every document needs apiVersion, kind and metadata.name: {doc}"
                );
                assert!(
                    doc["metadata"].get("namespace").is_none(),
                    "examples/{file}: {} {} sets a namespace; examples are applied with -n",
                    kind(doc),
                    name(doc)
                );
            }
            manifests.push(Manifest { file, path, docs });
        }
        Self { manifests }
    }

    fn objects(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.manifests
            .iter()
            .flat_map(|m| m.docs.iter().map(move |d| (m.file.as_str(), d)))
    }

    fn find(&self, kind_: &str, name_: &str) -> Option<&Value> {
        self.objects()
            .map(|(_, d)| d)
            .find(|d| kind(d) == kind_ && name(d) == name_)
    }

    fn typed<T: DeserializeOwned>(&self, kind_: &str, name_: &str) -> Option<T> {
        let doc = self.find(kind_, name_)?;
        Some(serde_json::from_value(doc.clone()).unwrap_or_else(|e| {
            panic!("{kind_} {name_} does not deserialize as the operator reads it: {e}")
        }))
    }

    fn manifest(&self, file: &str) -> &Manifest {
        self.manifests
            .iter()
            .find(|m| m.file == file)
            .unwrap_or_else(|| panic!("examples/{file} is missing"))
    }

    fn tokens(&self) -> Vec<(String, SnowflakeToken)> {
        self.objects()
            .filter(|(_, d)| kind(d) == "SnowflakeToken")
            .map(|(file, d)| {
                let token: SnowflakeToken = serde_json::from_value(d.clone()).unwrap_or_else(|e| {
                    panic!(
                        "examples/{file}: SnowflakeToken {} does not deserialize: {e}",
                        name(d)
                    )
                });
                (file.to_owned(), token)
            })
            .collect()
    }

    fn token(&self, name_: &str) -> SnowflakeToken {
        self.typed("SnowflakeToken", name_)
            .unwrap_or_else(|| panic!("no SnowflakeToken {name_} in examples/"))
    }
}

// ---------------------------------------------------------------------------------------
// What the operator writes for a token

/// Which account the Secret is rendered for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// The connection as the example has it: the bundled emulator on 127.0.0.1:8085.
    AsInTheExample,
    /// The same connection without `host`, as examples/connection.yaml describes a real
    /// account: the host is derived from the account.
    RealAccount,
}

const TARGETS: [Target; 2] = [Target::AsInTheExample, Target::RealAccount];

/// What the operator would write into the Secret, as it computes it (user, account, host,
/// role), with sample credentials.
fn content(examples: &Examples, token: &SnowflakeToken, target: Target) -> SecretContent {
    let token_name = token.metadata.name.clone().unwrap_or_default();
    let connection: SnowflakeConnection = examples
        .typed("SnowflakeConnection", &token.spec.connection_ref.name)
        .unwrap_or_else(|| {
            panic!(
                "SnowflakeToken {token_name}: no SnowflakeConnection {} in examples/",
                token.spec.connection_ref.name
            )
        });
    let mut spec = connection.spec.clone();
    if target == Target::RealAccount {
        spec.host = None;
    }
    let account = spec
        .snowflake_account()
        .unwrap_or_else(|e| panic!("connection {}: {e}", token.spec.connection_ref.name));
    let username = match (
        &token.spec.user.service_user_ref,
        token.explicit_user_name(),
    ) {
        (Some(reference), _) => examples
            .typed::<SnowflakeServiceUser>("SnowflakeServiceUser", &reference.name)
            .unwrap_or_else(|| {
                panic!(
                    "SnowflakeToken {token_name}: no SnowflakeServiceUser {} in examples/",
                    reference.name
                )
            })
            .snowflake_user_name(),
        (None, Some(name)) => name,
        (None, None) => panic!("SnowflakeToken {token_name} names no user"),
    };
    let credential = match token.spec.credential() {
        Some(Credential::Pat(pat)) => CredentialValue::Pat {
            secret: SecretString::from(PAT),
            token_name: token.pat_name().unwrap_or_default(),
            role: pat.role_restriction.as_deref().map(str::to_ascii_uppercase),
            answers_rotate: None,
        },
        Some(Credential::OAuth(oauth)) => CredentialValue::OAuth {
            access_token: SecretString::from(ACCESS_TOKEN),
            token_type: "Bearer".into(),
            role: oauth.session_role(),
            refreshed_from: "0".repeat(64),
        },
        Some(Credential::KeyPair(key_pair)) => CredentialValue::KeyPair {
            private_key: SecretString::from(PRIVATE_KEY),
            passphrase: (key_pair.format == PrivateKeyFormat::EncryptedPkcs8)
                .then(|| SecretString::from("sample-passphrase")),
            record: KeyRecord {
                fingerprint: "SHA256:sample".into(),
                slot: 1,
                bits: key_pair.bits(),
                previous: None,
            },
            answers_rotate: None,
        },
        None => panic!("SnowflakeToken {token_name}: no credential"),
    };
    SecretContent {
        username,
        account: account.identifier().to_owned(),
        host: account.host(),
        expires_at: "2026-04-01T00:00:00Z".parse().expect("timestamp"),
        issued_at: "2026-03-01T00:00:00Z".parse().expect("timestamp"),
        credential,
    }
}

/// The Secret the operator writes for `token`, through its own rendering code.
fn rendered(examples: &Examples, token: &SnowflakeToken, target: Target) -> Secret {
    let content = content(examples, token, target);
    desired_secret(token, &content).unwrap_or_else(|e| {
        panic!(
            "SnowflakeToken {}: {e}",
            token.metadata.name.as_deref().unwrap_or_default()
        )
    })
}

fn text(secret: &Secret, key: &str) -> String {
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| {
            panic!(
                "Secret {} has no key {key}",
                secret.metadata.name.as_deref().unwrap_or_default()
            )
        });
    String::from_utf8(value.0.clone()).expect("UTF-8")
}

fn keys(secret: &Secret) -> BTreeSet<String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect()
}

/// The Secret key of the credential, the sample credential the checks render, and whether
/// it is a PAT.
fn credential(token: &SnowflakeToken) -> (&'static str, &'static str, bool) {
    match token.spec.credential() {
        Some(Credential::OAuth(_)) => ("access_token", ACCESS_TOKEN, false),
        Some(Credential::KeyPair(_)) => ("private_key", PRIVATE_KEY, false),
        _ => ("password", PAT, true),
    }
}

// ---------------------------------------------------------------------------------------
// Workloads and what they read

/// The pod spec of a workload manifest, if it is one.
fn pod_spec(doc: &Value) -> Option<PodSpec> {
    fn parse<T: DeserializeOwned>(doc: &Value) -> T {
        serde_json::from_value(doc.clone())
            .unwrap_or_else(|e| panic!("{} {}: {e}", kind(doc), name(doc)))
    }
    match kind(doc) {
        "Deployment" => parse::<Deployment>(doc).spec?.template.spec,
        "StatefulSet" => parse::<StatefulSet>(doc).spec?.template.spec,
        "DaemonSet" => parse::<DaemonSet>(doc).spec?.template.spec,
        "Job" => parse::<Job>(doc).spec?.template.spec,
        "CronJob" => parse::<CronJob>(doc).spec?.job_template.spec?.template.spec,
        "Pod" => parse::<k8s_openapi::api::core::v1::Pod>(doc).spec,
        _ => None,
    }
}

/// How a workload reads a Secret or ConfigMap.
#[derive(Debug, Clone, PartialEq)]
enum Via {
    /// An environment variable (fixed when the container starts).
    Env,
    /// A mounted volume (updated by the kubelet).
    Volume,
}

/// One use of a Secret or ConfigMap by a workload; `key` is `None` for all keys.
#[derive(Debug, Clone)]
struct Use {
    source: &'static str,
    name: String,
    key: Option<String>,
    via: Via,
}

fn containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
}

fn uses(spec: &PodSpec) -> Vec<Use> {
    let mut out = Vec::new();
    for container in containers(spec) {
        for env in container.env.iter().flatten() {
            let from = env.value_from.as_ref();
            if let Some(r) = from.and_then(|f| f.secret_key_ref.as_ref()) {
                out.push(Use {
                    source: "Secret",
                    name: r.name.clone(),
                    key: Some(r.key.clone()),
                    via: Via::Env,
                });
            }
            if let Some(r) = from.and_then(|f| f.config_map_key_ref.as_ref()) {
                out.push(Use {
                    source: "ConfigMap",
                    name: r.name.clone(),
                    key: Some(r.key.clone()),
                    via: Via::Env,
                });
            }
        }
        for from in container.env_from.iter().flatten() {
            if let Some(r) = &from.secret_ref {
                out.push(Use {
                    source: "Secret",
                    name: r.name.clone(),
                    key: None,
                    via: Via::Env,
                });
            }
            if let Some(r) = &from.config_map_ref {
                out.push(Use {
                    source: "ConfigMap",
                    name: r.name.clone(),
                    key: None,
                    via: Via::Env,
                });
            }
        }
    }
    for volume in spec.volumes.iter().flatten() {
        let mut add = |source: &'static str, name: &str, items: Option<Vec<String>>| match items {
            Some(items) if !items.is_empty() => {
                for key in items {
                    out.push(Use {
                        source,
                        name: name.to_owned(),
                        key: Some(key),
                        via: Via::Volume,
                    });
                }
            }
            _ => out.push(Use {
                source,
                name: name.to_owned(),
                key: None,
                via: Via::Volume,
            }),
        };
        if let Some(secret) = &volume.secret {
            let items = secret
                .items
                .as_ref()
                .map(|i| i.iter().map(|i| i.key.clone()).collect());
            add(
                "Secret",
                secret.secret_name.as_deref().unwrap_or_default(),
                items,
            );
        }
        if let Some(map) = &volume.config_map {
            let items = map
                .items
                .as_ref()
                .map(|i| i.iter().map(|i| i.key.clone()).collect());
            add("ConfigMap", &map.name, items);
        }
        for source in volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
        {
            if let Some(secret) = &source.secret {
                let items = secret
                    .items
                    .as_ref()
                    .map(|i| i.iter().map(|i| i.key.clone()).collect());
                add("Secret", &secret.name, items);
            }
        }
    }
    out
}

/// The only container of a workload's pod.
fn container<'a>(spec: &'a PodSpec, what: &str) -> &'a Container {
    assert_eq!(spec.containers.len(), 1, "{what} has one container");
    &spec.containers[0]
}

fn env_value(container: &Container, name_: &str) -> Option<String> {
    container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name_)?
        .value
        .clone()
}

/// The Secret and key an environment variable is read from.
fn env_secret_key(container: &Container, name_: &str) -> Option<(String, String)> {
    let r = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name_)?
        .value_from
        .as_ref()?
        .secret_key_ref
        .clone()?;
    Some((r.name, r.key))
}

/// The files of the volume mounted at `path`: Secret name and (key → file name), all keys
/// when the volume lists no items.
fn secret_mounted_at(
    spec: &PodSpec,
    container: &Container,
    path: &str,
) -> (String, Option<BTreeMap<String, String>>) {
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == path.trim_end_matches('/'))
        .unwrap_or_else(|| panic!("container {} mounts nothing at {path}", container.name));
    assert!(
        mount.sub_path.is_none() && mount.sub_path_expr.is_none(),
        "{path} is mounted with subPath: the kubelet never updates such a file"
    );
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap_or_else(|| panic!("no volume {}", mount.name));
    let secret = volume
        .secret
        .as_ref()
        .unwrap_or_else(|| panic!("volume {} is not a Secret", volume.name));
    let items = secret.items.as_ref().map(|items| {
        items
            .iter()
            .map(|i| (i.key.clone(), i.path.clone()))
            .collect()
    });
    (secret.secret_name.clone().unwrap_or_default(), items)
}

/// The key of the Secret that appears as `file` in a mounted Secret volume.
fn key_of_file(items: &Option<BTreeMap<String, String>>, file: &str) -> String {
    match items {
        None => file.to_owned(),
        Some(items) => items
            .iter()
            .find(|(_, path)| path.as_str() == file)
            .map(|(key, _)| key.clone())
            .unwrap_or_else(|| panic!("no item of the volume is written as {file}: {items:?}")),
    }
}

/// The container's command line as one string.
fn command_line(container: &Container) -> String {
    container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The word after `flag` on a command line (`--target prod`, `--target=prod`).
fn flag_value(words: &[String], flag: &str) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        if w == flag {
            words.get(i + 1).cloned()
        } else {
            w.strip_prefix(&format!("{flag}=")).map(str::to_owned)
        }
    })
}

fn words(container: &Container) -> Vec<String> {
    command_line(container)
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// (a) The API server accepts every example

/// `kubectl apply --server-side` (which validates fields strictly) of one file into a
/// fresh namespace; returns kubectl's stderr on failure.
async fn apply(ns: &TestNamespace, path: &Path) -> Result<(), String> {
    let path = path.display().to_string();
    let out = kubectl(
        plane(),
        &[
            "apply",
            "--server-side",
            "--field-manager=examples-test",
            "-n",
            ns.name(),
            "-f",
            &path,
        ],
    )
    .await;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn gvk(doc: &Value) -> GroupVersionKind {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind(doc))
}

/// Applies one example file into a namespace of its own, checks that every object in it
/// is stored there, and creates the Secret the operator would write for each of its
/// tokens. Returns the failures.
async fn apply_example(examples: &Examples, manifest: &Manifest) -> Vec<String> {
    let prefix = format!(
        "ex-{}",
        manifest
            .file
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .replace(['/', '.', '_'], "-")
    );
    let prefix: String = prefix.chars().take(40).collect();
    let ns = TestNamespace::new(plane(), prefix.trim_end_matches('-')).await;
    if let Err(stderr) = apply(&ns, &manifest.path).await {
        return vec![format!("examples/{} is refused: {stderr}", manifest.file)];
    }
    let client = plane().client().await;
    let mut failures = Vec::new();
    for doc in &manifest.docs {
        let gvk = gvk(doc);
        let stored = match kube::discovery::pinned_kind(&client, &gvk).await {
            Ok((resource, _)) => {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), ns.name(), &resource);
                api.get(name(doc)).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            failures.push(format!(
                "examples/{}: {} {} is not stored: {e}",
                manifest.file,
                kind(doc),
                name(doc)
            ));
        }
    }
    let secrets: Api<Secret> = Api::namespaced(client, ns.name());
    for doc in manifest.docs.iter().filter(|d| kind(d) == "SnowflakeToken") {
        let token = examples.token(name(doc));
        for target in TARGETS {
            let mut secret = rendered(examples, &token, target);
            secret.metadata.namespace = None;
            if target == Target::RealAccount {
                secret.metadata.name = Some(format!("{}-real", token.secret_name()));
            }
            if let Err(e) = secrets.create(&PostParams::default(), &secret).await {
                failures.push(format!(
                    "examples/{}: the Secret of SnowflakeToken {} ({target:?}) is refused: {e}",
                    manifest.file,
                    name(doc)
                ));
            }
        }
    }
    failures
}

#[tokio::test]
async fn every_example_is_accepted_by_the_api_server_in_a_namespace_of_its_own() {
    let examples = Examples::load();
    let files: Vec<&str> = examples.manifests.iter().map(|m| m.file.as_str()).collect();
    for expected in [
        "admin-key.yaml",
        "connection.yaml",
        "consumer.yaml",
        "consumer-dbt.yaml",
        "consumer-jdbc.yaml",
        "consumer-python.yaml",
        "consumer-snowflake-cli.yaml",
        "service-user.yaml",
        "token-keypair.yaml",
        "token-oauth.yaml",
        "token-pat.yaml",
    ] {
        assert!(
            files.contains(&expected),
            "examples/{expected} not found in {files:?}"
        );
    }
    let failures: Vec<String> = futures::future::join_all(
        examples
            .manifests
            .iter()
            .map(|m| apply_example(&examples, m)),
    )
    .await
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn a_typo_or_a_broken_rule_in_an_example_fails_its_apply() {
    let examples = Examples::load();
    let ns = TestNamespace::new(plane(), "ex-broken").await;
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        // A misspelt field: strict field validation refuses it.
        (
            "consumer-dbt.yaml",
            "    roleRestriction: TRANSFORMER",
            "    roleRestricton: TRANSFORMER",
            "roleRestricton",
        ),
        // A template replacing the credential key: a CEL rule of the CRD refuses it.
        (
            "consumer-jdbc.yaml",
            "      jdbc_url: ",
            "      password: ",
            "cannot replace the credential key",
        ),
        // A misspelt field of a built-in kind.
        (
            "consumer-python.yaml",
            "          volumeMounts:",
            "          volumeMount:",
            "volumeMount",
        ),
    ];
    for (file, from, to, expected) in cases {
        let original = std::fs::read_to_string(&examples.manifest(file).path).expect("read");
        assert!(
            original.contains(from),
            "examples/{file} no longer contains {from:?}"
        );
        let broken = dir.path().join(file);
        std::fs::write(&broken, original.replacen(from, to, 1)).expect("write");
        match apply(&ns, &broken).await {
            Ok(()) => panic!("examples/{file} with {to:?} was accepted"),
            Err(stderr) => assert!(
                stderr.contains(expected),
                "examples/{file} with {to:?}: expected {expected:?} in: {stderr}"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The examples fit together

#[test]
fn every_yaml_file_at_the_top_of_examples_is_a_manifest() {
    // `kubectl apply -f examples/` (README, tests/operator_process.rs) reads them all.
    let examples = Examples::load();
    let mut top = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            top.push(
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    for file in top {
        assert!(
            examples.manifests.iter().any(|m| m.file == file),
            "examples/{file} is not a Kubernetes manifest, but `kubectl apply -f examples/` reads it"
        );
    }
}

#[test]
fn names_are_unique_across_the_examples() {
    let examples = Examples::load();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for (file, doc) in examples.objects() {
        let id = (kind(doc).to_owned(), name(doc).to_owned());
        if let Some(first) = seen.insert(id.clone(), file.to_owned()) {
            panic!(
                "{} {} is in both examples/{first} and examples/{file}",
                id.0, id.1
            );
        }
    }
    // Two tokens writing one Secret would fight over it.
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    for (_, token) in examples.tokens() {
        let token_name = token.metadata.name.clone().unwrap_or_default();
        if let Some(other) = secrets.insert(token.secret_name(), token_name.clone()) {
            panic!(
                "SnowflakeTokens {other} and {token_name} both write Secret {}",
                token.secret_name()
            );
        }
        assert!(
            examples.find("Secret", &token.secret_name()).is_none(),
            "examples/ also defines the Secret {} that token {token_name} writes",
            token.secret_name()
        );
    }
}

#[test]
fn references_between_the_examples_resolve() {
    let examples = Examples::load();
    let mut failures = Vec::new();
    for (file, doc) in examples.objects() {
        let what = format!("examples/{file}: {} {}", kind(doc), name(doc));
        let spec = &doc["spec"];
        if let Some(connection) = spec["connectionRef"]["name"].as_str()
            && examples.find("SnowflakeConnection", connection).is_none()
        {
            failures.push(format!("{what}: no SnowflakeConnection {connection}"));
        }
        if let Some(user) = spec["user"]["serviceUserRef"]["name"].as_str()
            && examples.find("SnowflakeServiceUser", user).is_none()
        {
            failures.push(format!("{what}: no SnowflakeServiceUser {user}"));
        }
        for target in spec["rolloutRestartTargets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (k, n) = (
                target["kind"].as_str().unwrap_or_default(),
                target["name"].as_str().unwrap_or_default(),
            );
            if examples.find(k, n).is_none() {
                failures.push(format!("{what}: rolloutRestartTargets names no {k} {n}"));
            }
        }
        let key_ref = &spec["auth"]["keyPair"]["privateKeySecretRef"];
        if let (Some(secret), Some(key)) = (key_ref["name"].as_str(), key_ref["key"].as_str()) {
            match examples.find("Secret", secret) {
                None => failures.push(format!("{what}: no Secret {secret}")),
                Some(s) if s["stringData"].get(key).is_none() && s["data"].get(key).is_none() => {
                    failures.push(format!("{what}: Secret {secret} has no key {key}"));
                }
                Some(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn workloads_read_only_keys_that_exist_and_env_readers_are_restarted() {
    let examples = Examples::load();
    // Secret name → (token, keys the operator writes, restart targets).
    let mut written: BTreeMap<String, (SnowflakeToken, BTreeSet<String>)> = BTreeMap::new();
    for (_, token) in examples.tokens() {
        let secret = rendered(&examples, &token, Target::AsInTheExample);
        written.insert(token.secret_name(), (token, keys(&secret)));
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, doc) in examples.objects() {
        let Some(spec) = pod_spec(doc) else { continue };
        let what = format!("examples/{file}: {} {}", kind(doc), name(doc));
        for using in uses(&spec) {
            checked += 1;
            let key = using.key.clone();
            let available: Option<BTreeSet<String>> = match using.source {
                "Secret" => match written.get(&using.name) {
                    Some((token, keys)) => {
                        let restarted =
                            token.spec.rollout_restart_targets.iter().any(|t| {
                                format!("{:?}", t.kind) == kind(doc) && t.name == name(doc)
                            });
                        let oauth = matches!(token.spec.credential(), Some(Credential::OAuth(_)));
                        let token_name = token.metadata.name.clone().unwrap_or_default();
                        if using.via == Via::Env && oauth {
                            failures.push(format!(
                                "{what}: reads the OAuth token {token_name} through an environment variable, which is fixed when the pod starts while the token lives minutes"
                            ));
                        }
                        let long_running =
                            matches!(kind(doc), "Deployment" | "StatefulSet" | "DaemonSet");
                        if using.via == Via::Env && long_running && !oauth && !restarted {
                            failures.push(format!(
                                "{what}: reads Secret {} through an environment variable but is not a rolloutRestartTargets entry of token {token_name}: it would keep the old value after a rotation",
                                using.name
                            ));
                        }
                        Some(keys.clone())
                    }
                    None => examples.find("Secret", &using.name).map(|s| {
                        ["data", "stringData"]
                            .iter()
                            .filter_map(|f| s[*f].as_object())
                            .flat_map(|m| m.keys().cloned())
                            .collect()
                    }),
                },
                _ => examples.find("ConfigMap", &using.name).map(|m| {
                    ["data", "binaryData"]
                        .iter()
                        .filter_map(|f| m[*f].as_object())
                        .flat_map(|m| m.keys().cloned())
                        .collect()
                }),
            };
            match (available, key) {
                (None, _) => failures.push(format!(
                    "{what}: reads {} {}, which no example defines or writes",
                    using.source, using.name
                )),
                (Some(keys), Some(key)) if !keys.contains(&key) => failures.push(format!(
                    "{what}: reads key {key} of {} {}, which has only {keys:?}",
                    using.source, using.name
                )),
                _ => {}
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} Secret or ConfigMap uses found"
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// (b) Every template renders and parses as its tool reads it

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}\n{text}"))
}

fn toml_table(text: &str, what: &str) -> toml::Table {
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{what} is not valid TOML: {e}\n{text}"))
}

/// A dbt profiles.yml: every Snowflake output logs in as the token's user on its account,
/// with the PAT as the password (or the OAuth access token as `token`), and every
/// profile's `target` names one of its outputs.
fn check_dbt_profiles(
    profiles: &Value,
    content: &SecretContent,
    secret_value: &str,
    pat: bool,
    what: &str,
) {
    let profiles = profiles
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not a mapping"));
    assert!(!profiles.is_empty(), "{what}: no profile");
    for (profile, body) in profiles {
        if profile == "config" {
            continue;
        }
        let outputs = body["outputs"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}: profile {profile} has no outputs"));
        let target = body["target"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: profile {profile} has no target"));
        assert!(
            outputs.contains_key(target),
            "{what}: profile {profile}'s target {target} is not one of its outputs"
        );
        for (name_, output) in outputs {
            let at = format!("{what}: {profile}.outputs.{name_}");
            assert_eq!(output["type"], "snowflake", "{at}: type");
            assert_eq!(output["account"], content.account.as_str(), "{at}: account");
            assert_eq!(output["user"], content.username.as_str(), "{at}: user");
            if pat {
                assert_eq!(
                    output["password"], secret_value,
                    "{at}: the PAT is the password"
                );
                let authenticator = output["authenticator"].as_str().unwrap_or("snowflake");
                assert!(
                    authenticator.eq_ignore_ascii_case("snowflake"),
                    "{at}: dbt-snowflake sends `password` only with its default authenticator, not {authenticator}"
                );
            } else {
                assert_eq!(output["authenticator"], "oauth", "{at}: authenticator");
                assert_eq!(output["token"], secret_value, "{at}: the access token");
            }
        }
    }
}

/// A connections.toml: every connection names the account and user and carries the
/// credential where the Snowflake connector reads it.
fn check_connections_toml(
    connections: &toml::Table,
    content: &SecretContent,
    secret_value: &str,
    what: &str,
) {
    assert!(!connections.is_empty(), "{what}: no connection");
    for (name_, connection) in connections {
        let at = format!("{what}: [{name_}]");
        let connection = connection.as_table().unwrap_or_else(|| {
            panic!("{at} is not a table (connections.toml has no `connections.` prefix)")
        });
        let get = |k: &str| {
            connection
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        assert_eq!(
            get("account").as_deref(),
            Some(content.account.as_str()),
            "{at}: account"
        );
        assert_eq!(
            get("user").as_deref(),
            Some(content.username.as_str()),
            "{at}: user"
        );
        let authenticator = get("authenticator").unwrap_or_else(|| "snowflake".into());
        let field = match authenticator.to_ascii_lowercase().as_str() {
            "snowflake" => "password",
            "programmatic_access_token" | "oauth" => "token",
            other => panic!("{at}: unexpected authenticator {other}"),
        };
        assert_eq!(
            get(field).as_deref(),
            Some(secret_value),
            "{at}: the credential as {field}"
        );
    }
}

/// A JDBC URL: `jdbc:snowflake://<host>/?<params>` naming the operator's host and user;
/// a credential in it, if any, is the token.
fn check_jdbc_url(
    url: &str,
    content: &SecretContent,
    secret_value: &str,
    what: &str,
) -> BTreeMap<String, String> {
    let rest = url
        .strip_prefix("jdbc:")
        .unwrap_or_else(|| panic!("{what}: {url} does not start with jdbc:"));
    let parsed =
        url::Url::parse(rest).unwrap_or_else(|e| panic!("{what}: {url} is not a URL: {e}"));
    assert_eq!(parsed.scheme(), "snowflake", "{what}: {url}");
    let authority = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_owned(),
    };
    assert_eq!(
        authority, content.host,
        "{what}: the host and port of {url}"
    );
    let params: BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(
        params.len(),
        parsed.query_pairs().count(),
        "{what}: a parameter is repeated in {url}"
    );
    assert_eq!(
        params.get("user"),
        Some(&content.username),
        "{what}: user in {url}"
    );
    if let Some(account) = params.get("account") {
        assert_eq!(account, &content.account, "{what}: account in {url}");
    }
    for key in ["password", "token"] {
        if let Some(value) = params.get(key) {
            assert_eq!(value, secret_value, "{what}: {key} in {url}");
        }
    }
    params
}

#[test]
fn every_template_renders_and_parses_as_its_tool_reads_it() {
    let examples = Examples::load();
    let mut seen = BTreeSet::new();
    for (file, token) in examples.tokens() {
        let (credential_key, secret_value, pat) = credential(&token);
        for target in TARGETS {
            let content = content(&examples, &token, target);
            let secret = rendered(&examples, &token, target);
            let token_name = token.metadata.name.clone().unwrap_or_default();
            // The credential is where the operator recognises it, whatever the templates.
            assert_eq!(text(&secret, credential_key), secret_value);
            for key in token.spec.secret.template.keys() {
                let what = format!("examples/{file}: token {token_name}, key {key} ({target:?})");
                let value = text(&secret, key);
                assert!(!value.trim().is_empty(), "{what} renders empty");
                if key.ends_with(".yml") || key.ends_with(".yaml") {
                    let doc = yaml(&value, &what);
                    if key.starts_with("profiles.") {
                        check_dbt_profiles(&doc, &content, secret_value, pat, &what);
                        seen.insert("dbt");
                    }
                } else if key.ends_with(".toml") {
                    let table = toml_table(&value, &what);
                    if key == "connections.toml" {
                        check_connections_toml(&table, &content, secret_value, &what);
                        seen.insert("connections.toml");
                    }
                    if key == "config.toml" {
                        if let Some(default) = table.get("default_connection_name") {
                            let default = default.as_str().expect("a string");
                            let connections = token
                                .spec
                                .secret
                                .template
                                .contains_key("connections.toml")
                                .then(|| toml_table(&text(&secret, "connections.toml"), &what));
                            let defined = match &connections {
                                Some(c) => c.contains_key(default),
                                None => table
                                    .get("connections")
                                    .and_then(|c| c.get(default))
                                    .is_some(),
                            };
                            assert!(
                                defined,
                                "{what}: default_connection_name {default} is not defined"
                            );
                        }
                        seen.insert("config.toml");
                    }
                } else if key.ends_with(".json") {
                    serde_json::from_str::<Value>(&value)
                        .unwrap_or_else(|e| panic!("{what} is not valid JSON: {e}"));
                } else if value.starts_with("jdbc:") {
                    check_jdbc_url(&value, &content, secret_value, &what);
                    seen.insert("jdbc");
                }
            }
        }
    }
    for tool in ["dbt", "connections.toml", "config.toml", "jdbc"] {
        assert!(
            seen.contains(tool),
            "no example template for {tool} was checked"
        );
    }
}

#[test]
fn a_template_with_a_typo_is_refused_by_the_operator_instead_of_written() {
    // What a user sees when a template names a variable that does not exist: no Secret,
    // an error naming the key (the token's Ready condition carries it).
    let examples = Examples::load();
    let mut token = examples.token("dbt");
    let template = token
        .spec
        .secret
        .template
        .get_mut("profiles.yml")
        .expect("profiles.yml");
    *template = template.replace("{{ username }}", "{{ usename }}");
    let content = content(&examples, &token, Target::RealAccount);
    let err = desired_secret(&token, &content).expect_err("refused");
    assert_eq!(err.key, "profiles.yml");
    assert!(!err.to_string().contains(PAT));
}

// ---------------------------------------------------------------------------------------
// Each consumer is wired to what its tool reads

#[test]
fn the_bi_gateway_reads_username_and_password_of_a_basic_auth_secret() {
    let examples = Examples::load();
    let token = examples.token("powerbi-gateway");
    let doc = examples
        .find("Deployment", "powerbi-gateway")
        .expect("Deployment");
    let spec = pod_spec(doc).expect("pod spec");
    let gateway = container(&spec, "the gateway");
    for target in TARGETS {
        let content = content(&examples, &token, target);
        let secret = rendered(&examples, &token, target);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        let read = |var: &str| {
            let (name_, key) = env_secret_key(gateway, var)
                .unwrap_or_else(|| panic!("{var} is not read from a Secret"));
            assert_eq!(
                name_,
                token.secret_name(),
                "{var} comes from the token's Secret"
            );
            text(&secret, &key)
        };
        assert_eq!(read("SNOWFLAKE_USER"), content.username);
        assert_eq!(read("SNOWFLAKE_PASSWORD"), PAT);
        assert_eq!(read("SNOWFLAKE_ACCOUNT"), content.account);
        assert_eq!(read("SNOWFLAKE_HOST"), content.host);
    }
}

#[test]
fn dbt_finds_its_profile_and_target_in_the_mounted_profiles_yml() {
    let examples = Examples::load();
    let token = examples.token("dbt");
    let doc = examples
        .find("CronJob", "dbt-build")
        .expect("CronJob dbt-build");
    let spec = pod_spec(doc).expect("pod spec");
    let dbt = container(&spec, "dbt-build");
    let dir = env_value(dbt, "DBT_PROFILES_DIR").expect("DBT_PROFILES_DIR is set");
    let (secret_name, items) = secret_mounted_at(&spec, dbt, &dir);
    assert_eq!(secret_name, token.secret_name());
    let key = key_of_file(&items, "profiles.yml");
    let words = words(dbt);
    let profile = flag_value(&words, "--profile").expect("--profile");
    let target_name = flag_value(&words, "--target").expect("--target");
    for target in TARGETS {
        let content = content(&examples, &token, target);
        let secret = rendered(&examples, &token, target);
        let profiles = yaml(&text(&secret, &key), "profiles.yml");
        let output = &profiles[&profile]["outputs"][&target_name];
        assert!(
            output.is_object(),
            "profiles.yml has no profile {profile} with target {target_name}: {profiles}"
        );
        assert_eq!(output["type"], "snowflake");
        assert_eq!(output["user"], "DBT_SVC");
        assert_eq!(output["password"], PAT);
        assert_eq!(output["account"], content.account.as_str());
        assert_eq!(output["role"], "TRANSFORMER");
        assert!(output["warehouse"].is_string() && output["database"].is_string());
        assert!(output["schema"].is_string() && output["threads"].is_u64());
    }
}

#[test]
fn the_snowflake_cli_reads_its_default_connection_from_snowflake_home() {
    let examples = Examples::load();
    let token = examples.token("snowcli");
    let doc = examples
        .find("CronJob", "snowcli-report")
        .expect("CronJob snowcli-report");
    let spec = pod_spec(doc).expect("pod spec");
    let snow = container(&spec, "snowcli-report");
    let home = env_value(snow, "SNOWFLAKE_HOME").expect("SNOWFLAKE_HOME is set");
    let (secret_name, items) = secret_mounted_at(&spec, snow, &home);
    assert_eq!(secret_name, token.secret_name());
    let connections_key = key_of_file(&items, "connections.toml");
    let config_key = key_of_file(&items, "config.toml");
    // The arguments of `snow` itself (the container runs it from a shell).
    let words: Vec<String> = words(snow)
        .into_iter()
        .skip_while(|w| !w.ends_with("/snow") && w != "snow")
        .collect();
    assert!(
        !words.is_empty(),
        "the CronJob runs snow: {}",
        command_line(snow)
    );
    assert_eq!(
        flag_value(&words, "--config-file").as_deref(),
        Some(format!("{}/config.toml", home.trim_end_matches('/')).as_str()),
        "the CLI is given the mounted config.toml (it refuses a group-readable default one)"
    );
    assert_eq!(
        env_value(snow, "SF_SKIP_WARNING_FOR_READ_PERMISSIONS_ON_CONFIG_FILE").as_deref(),
        Some("true")
    );
    for target in TARGETS {
        let content = content(&examples, &token, target);
        let secret = rendered(&examples, &token, target);
        let config = toml_table(&text(&secret, &config_key), "config.toml");
        let connections = toml_table(&text(&secret, &connections_key), "connections.toml");
        let chosen = flag_value(&words, "--connection")
            .or_else(|| flag_value(&words, "-c"))
            .or_else(|| {
                let name = config.get("default_connection_name")?.as_str()?;
                Some(name.to_owned())
            })
            .expect("a connection is chosen");
        let connection = connections
            .get(&chosen)
            .and_then(|c| c.as_table())
            .unwrap_or_else(|| panic!("no connection {chosen} in connections.toml"));
        let field = |k: &str| connection.get(k).and_then(|v| v.as_str());
        assert_eq!(field("account"), Some(content.account.as_str()));
        assert_eq!(field("user"), Some("SNOWCLI_SVC"));
        assert_eq!(field("password"), Some(PAT));
        assert_eq!(field("role"), Some("ANALYST"));
        // The Secret volume is read-only: the CLI must not try to write log files there.
        let save_logs = config
            .get("cli")
            .and_then(|c| c.get("logs"))
            .and_then(|l| l.get("save_logs"))
            .and_then(|s| s.as_bool());
        assert_eq!(save_logs, Some(false));
    }
}

/// The Python interpreter of the test environment (scripts/test's virtualenv, else
/// `python3`).
fn python() -> String {
    std::env::var("SFTO_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn the_python_worker_reads_the_token_files_at_each_connection() {
    let examples = Examples::load();
    let token = examples.token("loader");
    let doc = examples
        .find("Deployment", "loader")
        .expect("Deployment loader");
    let spec = pod_spec(doc).expect("pod spec");
    let worker = container(&spec, "loader");
    let dir = env_value(worker, "SNOWFLAKE_SECRET_DIR").expect("SNOWFLAKE_SECRET_DIR");
    let (secret_name, items) = secret_mounted_at(&spec, worker, &dir);
    assert_eq!(secret_name, token.secret_name());
    assert!(items.is_none(), "every key is mounted");
    assert!(
        token.spec.rollout_restart_targets.is_empty(),
        "a worker reading files needs no restart"
    );

    // The script comes from the ConfigMap mounted where the command runs it.
    let script_path = words(worker)
        .into_iter()
        .find(|w| w.ends_with(".py"))
        .expect("runs a .py file");
    let (script_dir, script_file) = script_path.rsplit_once('/').expect("a path");
    let mount = worker
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == script_dir)
        .expect("the script's directory is mounted");
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("volume");
    let map_name = &volume.config_map.as_ref().expect("a ConfigMap volume").name;
    let map = examples.find("ConfigMap", map_name).expect("ConfigMap");
    let script = map["data"][script_file]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {map_name} has no {script_file}"));

    // It reads only keys the Secret has, the token among them, with the PAT authenticator.
    let secret = rendered(&examples, &token, Target::AsInTheExample);
    let keys = keys(&secret);
    let read: BTreeSet<String> = script
        .split("read(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once("\")").map(|(k, _)| k.to_owned()))
        .collect();
    assert!(
        read.contains("password") && read.contains("username"),
        "{read:?}"
    );
    for key in &read {
        assert!(
            keys.contains(key),
            "the script reads {key}, not a key of {keys:?}"
        );
    }
    assert!(script.contains("authenticator=\"PROGRAMMATIC_ACCESS_TOKEN\""));
    assert!(script.contains("token=read(\"password\")"));
    assert!(script.contains("os.environ.get(\"SNOWFLAKE_SECRET_DIR\""));
    // The reads happen inside connect(), i.e. again for every connection.
    let connect = script
        .split("def connect(")
        .nth(1)
        .and_then(|s| s.split("\ndef ").next())
        .expect("a connect() function");
    assert!(
        connect.contains("read(\"password\")"),
        "the token is read in connect()"
    );

    // And it is valid Python.
    let check = std::process::Command::new(python())
        .args([
            "-c",
            "import sys; compile(sys.stdin.read(), 'loader.py', 'exec')",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("cannot run {} (Python 3 is required): {e}", python()));
    assert!(
        check.status.success(),
        "loader.py does not compile: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_jdbc_service_gets_url_user_and_password_from_the_secret() {
    let examples = Examples::load();
    let token = examples.token("reporting-api");
    let doc = examples
        .find("Deployment", "reporting-api")
        .expect("Deployment");
    let spec = pod_spec(doc).expect("pod spec");
    let api = container(&spec, "reporting-api");
    assert_eq!(
        env_value(api, "SPRING_DATASOURCE_DRIVER_CLASS_NAME").as_deref(),
        Some("net.snowflake.client.jdbc.SnowflakeDriver")
    );
    for target in TARGETS {
        let content = content(&examples, &token, target);
        let secret = rendered(&examples, &token, target);
        let read = |var: &str| {
            let (name_, key) = env_secret_key(api, var)
                .unwrap_or_else(|| panic!("{var} is not read from a Secret"));
            assert_eq!(
                name_,
                token.secret_name(),
                "{var} comes from the token's Secret"
            );
            text(&secret, &key)
        };
        let url = read("SPRING_DATASOURCE_URL");
        let params = check_jdbc_url(&url, &content, PAT, "jdbc_url");
        assert_eq!(
            params.get("user").map(String::as_str),
            Some("REPORTING_API")
        );
        assert_eq!(params.get("role").map(String::as_str), Some("REPORTING"));
        assert_eq!(params.get("account"), Some(&content.account));
        for key in ["warehouse", "db", "schema"] {
            assert!(params.contains_key(key), "{key} in {url}");
        }
        // The URL may be logged: the PAT is passed as the password, not in the URL, with
        // the driver's default authenticator (which sends the password).
        assert!(!url.contains(PAT), "{url}");
        assert!(!params.contains_key("authenticator"), "{url}");
        assert_eq!(read("SPRING_DATASOURCE_USERNAME"), "REPORTING_API");
        assert_eq!(read("SPRING_DATASOURCE_PASSWORD"), PAT);
        if target == Target::RealAccount {
            assert!(
                url.starts_with("jdbc:snowflake://myorg-demo.snowflakecomputing.com/?"),
                "{url}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The operator itself, on the examples as they stand

/// The Secret keys of a live Secret, as [`SecretContent`] for the checks above.
fn live_content(secret: &Secret, pat: bool) -> SecretContent {
    let credential = if pat {
        CredentialValue::Pat {
            secret: SecretString::from(text(secret, "password")),
            token_name: String::new(),
            role: None,
            answers_rotate: None,
        }
    } else {
        CredentialValue::OAuth {
            access_token: SecretString::from(text(secret, "access_token")),
            token_type: "Bearer".into(),
            role: None,
            refreshed_from: String::new(),
        }
    };
    SecretContent {
        username: text(secret, "username"),
        account: text(secret, "account"),
        host: text(secret, "host"),
        expires_at: text(secret, "expires_at").parse().expect("expires_at"),
        issued_at: secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(snowflake_token_operator::api::keys::ISSUED_AT_ANNOTATION))
            .expect("the issued-at annotation")
            .parse()
            .expect("issued-at"),
        credential,
    }
}

#[tokio::test]
async fn the_operator_turns_every_example_token_into_the_secret_its_consumer_reads() {
    use snowflake_token_operator::controller::{self, Config};
    use snowflake_token_operator::emulator::{Emulator, EmulatorConfig, ServeOptions};
    use snowflake_token_operator::metrics::{Health, Metrics};
    use std::sync::Arc;
    use std::time::Duration;

    let examples = Examples::load();
    let ns = TestNamespace::new(plane(), "ex-operator").await;
    let seed = EmulatorConfig::from_file(&examples_dir().join("emulator/account.yaml"))
        .expect("the example seed loads");
    let emulator = Emulator::start(
        seed,
        ServeOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            test_endpoints: false,
        },
    )
    .await
    .expect("the emulator starts");
    let operator = controller::start(
        plane().client().await,
        Config {
            namespace: Some(ns.name().to_owned()),
            concurrency: 4,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            instance: format!("test-{}", ns.name()),
            ..Config::default()
        },
        Arc::new(Metrics::new()),
        Arc::new(Health::default()),
    );

    // `kubectl apply -f examples/`, with the connection pointed at this emulator.
    let dir = tempfile::tempdir().expect("dir");
    for manifest in &examples.manifests {
        let text = std::fs::read_to_string(&manifest.path)
            .expect("read")
            .replace("http://127.0.0.1:8085", &emulator.base_url());
        let file = manifest.file.replace('/', "-");
        std::fs::write(dir.path().join(file), text).expect("write");
    }
    let out = kubectl(
        plane(),
        &[
            "apply",
            "--server-side",
            "-n",
            ns.name(),
            "-f",
            &dir.path().display().to_string(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "kubectl apply -f examples/: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let client = plane().client().await;
    let tokens: Api<SnowflakeToken> = Api::namespaced(client.clone(), ns.name());
    let secrets: Api<Secret> = Api::namespaced(client, ns.name());
    let mut checked = 0;
    for (file, token) in examples.tokens() {
        let token_name = token.metadata.name.clone().unwrap_or_default();
        let (_, _, pat) = credential(&token);
        if let Some(Credential::KeyPair(_)) = token.spec.credential() {
            // A key pair is generated and registered at once: its Secret holds a key that
            // decrypts with the passphrase beside it, whose fingerprint it records.
            let secret = support::wait_for(
                Duration::from_secs(60),
                &format!("key-pair token {token_name} of examples/{file} Ready with its Secret"),
                || async {
                    let live = tokens.get(&token_name).await.ok()?;
                    live.status?
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                        .then_some(())?;
                    secrets.get_opt(&token.secret_name()).await.ok()?
                },
            )
            .await;
            let passphrase = secret
                .data
                .as_ref()
                .and_then(|d| d.contains_key("private_key_passphrase").then_some(()))
                .map(|()| SecretString::from(text(&secret, "private_key_passphrase")));
            let key = snowflake_token_operator::snowflake::PrivateKey::from_pem(
                &text(&secret, "private_key"),
                passphrase.as_ref(),
            )
            .unwrap_or_else(|e| panic!("examples/{file}: the key in the Secret: {e}"));
            assert_eq!(key.fingerprint(), text(&secret, "public_key_fingerprint"));
            let expected = rendered(&examples, &token, Target::AsInTheExample);
            assert_eq!(keys(&secret), keys(&expected), "examples/{file}: keys");
            continue;
        }
        if !pat {
            // An OAuth token waits for a person's consent (`authorize`), and says so.
            support::wait_for(
                Duration::from_secs(60),
                &format!("OAuth token {token_name} asking for authorize"),
                || async {
                    let live = tokens.get(&token_name).await.ok()?;
                    let ready = live
                        .status?
                        .conditions
                        .into_iter()
                        .find(|c| c.type_ == "Ready")?;
                    (ready.status == "False"
                        && ready.reason == "RefreshTokenMissing"
                        && ready.message.contains("authorize"))
                    .then_some(())
                },
            )
            .await;
            continue;
        }
        let secret = support::wait_for(
            Duration::from_secs(60),
            &format!("token {token_name} of examples/{file} Ready with its Secret"),
            || async {
                let live = tokens.get(&token_name).await.ok()?;
                let ready = live
                    .status?
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if !ready {
                    return None;
                }
                secrets.get_opt(&token.secret_name()).await.ok()?
            },
        )
        .await;
        // The real Secret holds the default keys and every template, rendered with the
        // value the operator minted, where each tool reads it.
        let live = live_content(&secret, pat);
        let value = text(&secret, "password");
        assert_ne!(value, PAT);
        let what = format!("examples/{file}: the live Secret of token {token_name}");
        for key in token.spec.secret.template.keys() {
            let rendered_value = text(&secret, key);
            if key.starts_with("profiles.") {
                check_dbt_profiles(&yaml(&rendered_value, &what), &live, &value, pat, &what);
            } else if key == "connections.toml" {
                check_connections_toml(&toml_table(&rendered_value, &what), &live, &value, &what);
            } else if rendered_value.starts_with("jdbc:") {
                check_jdbc_url(&rendered_value, &live, &value, &what);
            }
            checked += 1;
        }
        let expected = rendered(&examples, &token, Target::AsInTheExample);
        assert_eq!(
            keys(&secret),
            keys(&expected),
            "{what}: the keys the consumers were checked against"
        );
        assert_eq!(secret.type_, expected.type_, "{what}: type");
    }
    assert!(
        checked >= 5,
        "only {checked} templates checked on live Secrets"
    );
    operator.stop().await;
}
