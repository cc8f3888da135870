//! The Secret part of a `SnowflakeToken`: where the credential lands and who is restarted.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// The `type` of the Secret the operator writes.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum SecretType {
    /// A generic Secret.
    #[default]
    Opaque,
    /// `kubernetes.io/basic-auth`: the `username` and `password` keys, as tools expecting
    /// basic-auth Secrets read them.
    #[serde(rename = "kubernetes.io/basic-auth")]
    BasicAuth,
}

impl SecretType {
    /// The value of the Secret's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretType::Opaque => "Opaque",
            SecretType::BasicAuth => "kubernetes.io/basic-auth",
        }
    }
}

/// Where the credential is written. PAT Secrets get the keys `username`, `password` (the
/// token), `account`, `host` and `expires_at`; OAuth Secrets get `access_token`,
/// `token_type`, `expires_at`, `username`, `account` and `host`; key-pair Secrets get
/// `private_key`, `private_key_passphrase` (encrypted keys only),
/// `public_key_fingerprint`, `username`, `account` and `host`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TokenSecretSpec {
    /// Name of the Secret, in this namespace. Defaults to the resource's `metadata.name`.
    /// The operator owns this Secret: it is created, repaired and garbage-collected with
    /// the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::kubernetes_name())]
    pub name: Option<String>,

    /// Secret `type`: `Opaque` (default) or `kubernetes.io/basic-auth`.
    #[serde(default, rename = "type")]
    pub type_: SecretType,

    /// Extra labels on the Secret. The operator adds its own (`app.kubernetes.io/managed-by`
    /// and keys starting with `snowflake-token-operator.io/`), which cannot be set here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    #[x_kube(validation = crate::api::rules::metadata_keys("labels"))]
    #[x_kube(validation = crate::api::rules::no_reserved_keys("labels"))]
    #[x_kube(validation = crate::api::rules::label_values())]
    pub labels: BTreeMap<String, String>,

    /// Extra annotations on the Secret. Keys starting with `snowflake-token-operator.io/`
    /// are the operator's and cannot be set here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = crate::api::rules::metadata_keys("annotations"))]
    #[x_kube(validation = crate::api::rules::no_reserved_keys("annotations"))]
    pub annotations: BTreeMap<String, String>,

    /// Additional Secret keys rendered from templates (minijinja syntax) over the same
    /// variables as the default keys, for example a `connections.toml`, a dbt
    /// `profiles.yml` or a JDBC URL. Map of Secret key to template text. A template whose
    /// key is a default key replaces that key's value, except the credential itself
    /// (`password`, `access_token`, `private_key`): the operator recognises the value it
    /// wrote by that key; put a reshaped credential under a key of its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    #[x_kube(validation = Rule::new(r"self.all(k, size(k) <= 253 && k.matches(r'^[-._a-zA-Z0-9]+$'))").message(
        "template keys must be Secret keys: letters, digits, '-', '_' and '.'"
    ))]
    #[x_kube(validation = Rule::new("!('password' in self) && !('access_token' in self) && !('private_key' in self)").message(
        "a template cannot replace the credential key (password, access_token, private_key): the operator recognises the value it wrote by it; render the reshaped credential under another key, for example token: '{{ password }}'"
    ))]
    pub template: BTreeMap<String, String>,
}

/// The kinds of workloads that can be restarted after the credential changed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum RolloutKind {
    /// An `apps/v1` Deployment.
    Deployment,
    /// An `apps/v1` StatefulSet.
    StatefulSet,
    /// An `apps/v1` DaemonSet.
    DaemonSet,
}

/// A workload in this namespace restarted after the credential changed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutTarget {
    /// Kind of the workload: `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: RolloutKind,

    /// Name of the workload, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::kubernetes_name())]
    pub name: String,
}
