//! `SnowflakeServiceUser.spec.workloadIdentity`: the Kubernetes service accounts whose
//! tokens log in to Snowflake as the user (workload identity federation), with no Secret
//! anywhere. Facts and sources: `docs/workload-identity-research.md`.
//!
//! Each service account becomes one named workload identity of the user (`SFTO_` and the
//! account name, see [`identity_name`]), trusting the cluster's issuer and the subject
//! `system:serviceaccount:<this namespace>:<name>`. The names are plain Kubernetes names,
//! so a subject in another namespace cannot be written.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::snowflake::MANAGED_IDENTITY_PREFIX;

/// Where consumers find the projected token unless the spec says otherwise.
pub const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/snowflake/token";

/// The service accounts trusted, the audience and issuer of their tokens, and the
/// ConfigMap of connection settings written for their pods.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentitySpec {
    /// Service accounts of this namespace whose tokens log in as the user: a pod running
    /// as one of them mounts a projected service-account token (audience from
    /// `audiences`) and gives it to its Snowflake driver with `authenticator =
    /// WORKLOAD_IDENTITY`, `workload_identity_provider = OIDC`. Names only: the namespace
    /// is always this resource's, so no other namespace can be trusted. Each becomes the
    /// Snowflake workload identity `SFTO_<NAME>` (uppercased, `-` and `.` as `_`); the
    /// operator owns the user's `SFTO_` identities and removes those no longer listed.
    #[schemars(length(min = 1, max = 10), inner(length(min = 1, max = 250)))]
    #[x_kube(validation = service_account_names())]
    #[x_kube(validation = distinct_identity_names())]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub service_accounts: Vec<String>,

    /// Audiences the tokens may carry; a token is accepted if its `aud` holds one of them.
    /// Empty (the default) means `snowflakecomputing.com`, the audience Snowflake's docs
    /// use for the projected token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), inner(length(min = 1, max = 255)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub audiences: Vec<String>,

    /// The issuer of the cluster's service-account tokens, exactly as their `iss` claim
    /// has it. Default: discovered from the cluster's `/.well-known/openid-configuration`.
    /// Set it when Snowflake must reach another URL than the one the cluster reports (a
    /// managed cluster's public issuer: EKS `https://oidc.eks.<region>.amazonaws.com/id/…`,
    /// GKE `https://container.googleapis.com/v1/projects/…/clusters/…`, AKS
    /// `https://<region>.oic.prod-aks.azure.com/…`). Snowflake fetches
    /// `<issuer>/.well-known/openid-configuration` and its `jwks_uri` anonymously, so both
    /// must be public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 1024))]
    #[x_kube(validation = Rule::new(r"self.matches(r'^https://[^\s/?#]+(/[^\s?#]*)?$')").message(
        "must be an https URL without query or fragment, exactly as the tokens' iss claim has it"
    ))]
    pub issuer: Option<String>,

    /// The ConfigMap of non-secret connection settings the operator writes for the pods.
    #[serde(default)]
    pub config_map: ConsumerConfigMapSpec,
}

/// The ConfigMap with the settings a driver needs besides the token: account, host,
/// user, authenticator, provider and token path, as environment variables (for
/// `envFrom`: the Snowflake CLI reads `SNOWFLAKE_*`) and as a `connections.toml` (the
/// Python connector's and the Snowflake CLI's connection file).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConfigMapSpec {
    /// Name of the ConfigMap (in this namespace). Default: `<metadata.name>-snowflake`.
    /// The operator owns it: it refuses to overwrite a ConfigMap it did not create, and
    /// Kubernetes deletes it with this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::kubernetes_name())]
    pub name: Option<String>,

    /// Where the pods mount the projected service-account token (the file the drivers
    /// read). Default: `/var/run/secrets/snowflake/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1024))]
    #[x_kube(validation = Rule::new(r"self.matches(r'^/[^\s]*[^/\s]$')").message(
        "must be an absolute file path, such as /var/run/secrets/snowflake/token"
    ))]
    pub token_path: Option<String>,
}

impl WorkloadIdentitySpec {
    /// The token path written in the ConfigMap.
    pub fn token_path(&self) -> &str {
        self.config_map
            .token_path
            .as_deref()
            .unwrap_or(DEFAULT_TOKEN_PATH)
    }

    /// The ConfigMap's name for the resource `resource_name`.
    pub fn config_map_name(&self, resource_name: &str) -> String {
        self.config_map
            .name
            .clone()
            .unwrap_or_else(|| format!("{resource_name}-snowflake"))
    }
}

/// The subject of a service account's tokens: `system:serviceaccount:<namespace>:<name>`.
pub fn subject(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

/// The Snowflake workload identity of a service account: `SFTO_` and the name uppercased,
/// with `-` and `.` (which identifiers cannot hold unquoted) as `_`.
pub fn identity_name(service_account: &str) -> String {
    let mut name = MANAGED_IDENTITY_PREFIX.to_owned();
    name.extend(service_account.chars().map(|c| match c {
        '-' | '.' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

fn service_account_names() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "self.all(n, n.matches(r'{}'))",
        crate::api::rules::KUBERNETES_NAME
    ))
    .message(
        "every service account must be the name of a ServiceAccount in this namespace \
         (lowercase letters, digits, '-' and '.'); a namespace or a full subject cannot be \
         given, because only this namespace's service accounts can be trusted",
    )
}

/// `a-b` and `a.b` would both be the identity `SFTO_A_B`.
fn distinct_identity_names() -> kube::core::Rule {
    kube::core::Rule::new(
        "self.all(a, self.exists_one(b, b.replace('.', '-') == a.replace('.', '-')))",
    )
    .message(
        "two service accounts differ only in '-' versus '.', so both would be the same \
         Snowflake workload identity; rename one",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_are_prefixed_unquoted_identifiers() {
        assert_eq!(identity_name("etl-runner"), "SFTO_ETL_RUNNER");
        assert_eq!(identity_name("dbt.prod"), "SFTO_DBT_PROD");
        assert_eq!(identity_name("1st"), "SFTO_1ST");
        assert_eq!(subject("data", "etl"), "system:serviceaccount:data:etl");
    }

    #[test]
    fn defaults() {
        let spec: WorkloadIdentitySpec =
            serde_json::from_value(serde_json::json!({"serviceAccounts": ["etl"]})).unwrap();
        assert_eq!(spec.token_path(), DEFAULT_TOKEN_PATH);
        assert_eq!(spec.config_map_name("etl-user"), "etl-user-snowflake");
        assert!(spec.audiences.is_empty() && spec.issuer.is_none());
    }
}
