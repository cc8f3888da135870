//! `SnowflakeServiceUser`: a `TYPE = SERVICE` user kept converged with its spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::refs::LocalObjectRef;
use super::workload_identity::WorkloadIdentitySpec;

/// What happens in Snowflake when the Kubernetes resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the object in Snowflake.
    Retain,
    /// Remove the object from Snowflake.
    Delete,
}

/// A Snowflake user of `TYPE = SERVICE` (no password, no MFA: for tools and pipelines),
/// with its defaults, granted roles and network policy kept converged: drift made in
/// Snowflake is repaired, and roles removed from `roles` are revoked.
// Each printcolumn(...) repeats `type_ = "string"`, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "snowflake-token-operator.io",
    version = "v1alpha1",
    kind = "SnowflakeServiceUser",
    namespaced,
    status = "SnowflakeServiceUserStatus",
    shortname = "sfuser",
    category = "snowflake",
    doc = "A Snowflake TYPE = SERVICE user whose defaults, granted roles and network policy the operator keeps converged.",
    printcolumn(
        name = "User",
        type_ = "string",
        json_path = ".status.userName",
        description = "Name of the user in Snowflake"
    ),
    printcolumn(
        name = "Connection",
        type_ = "string",
        json_path = ".spec.connectionRef.name",
        description = "SnowflakeConnection used"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the user exists in Snowflake and matches the spec"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1,
        description = "Reason of the Ready condition"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.userName) == has(oldSelf.userName)").message(
    "userName cannot be added or removed after creation: it names the Snowflake user; create a new SnowflakeServiceUser instead"
))]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeServiceUserSpec {
    /// The SnowflakeConnection (in this namespace) used to manage the user. Cannot be
    /// changed later: the user lives in that connection's account.
    #[x_kube(validation = Rule::new("self == oldSelf").message("connectionRef cannot be changed: the user lives in that connection's account and would be orphaned there; create a new SnowflakeServiceUser instead"))]
    pub connection_ref: LocalObjectRef,

    /// Name of the user in Snowflake. Defaults to `metadata.name` uppercased with `-` and
    /// `.` replaced by `_` (`bi-gateway` becomes `BI_GATEWAY`). Cannot be changed later:
    /// renaming would orphan the old user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    #[x_kube(validation = Rule::new("self == oldSelf").message("userName cannot be changed; create a new SnowflakeServiceUser instead"))]
    pub user_name: Option<String>,

    /// Role the user's sessions start with (`DEFAULT_ROLE`). Usually one of `roles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub default_role: Option<String>,

    /// Warehouse the user's sessions use (`DEFAULT_WAREHOUSE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub default_warehouse: Option<String>,

    /// Database, or `database.schema`, the user's sessions use (`DEFAULT_NAMESPACE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 511))]
    #[x_kube(validation = Rule::new(r"self.matches(r'^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$')").message(
        "must be a database or database.schema of Snowflake identifiers, for example ANALYTICS.REPORTING"
    ))]
    pub default_namespace: Option<String>,

    /// Free-text comment stored on the user (`COMMENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub comment: Option<String>,

    /// Roles granted to the user. The operator grants missing ones and revokes roles it
    /// granted earlier that are no longer listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    #[x_kube(validation = crate::api::rules::snowflake_identifiers())]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub roles: Vec<String>,

    /// Network policy attached to the user (`NETWORK_POLICY`). Snowflake requires one,
    /// on the user or the account, before a SERVICE user can create or use programmatic
    /// access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub network_policy: Option<String>,

    /// Disable the user (`DISABLED = TRUE`): it cannot log in, and Snowflake disables its
    /// programmatic access tokens (they stay disabled after the user is enabled again
    /// until re-enabled one by one).
    #[serde(default)]
    pub disabled: bool,

    /// What happens in Snowflake when this resource is deleted: `Retain` (default) leaves
    /// the user; `Delete` drops it (the resource then carries a finalizer until done).
    #[serde(default = "default_deletion_policy")]
    pub deletion_policy: DeletionPolicy,

    /// Workload identity federation: pods running as these service accounts of this
    /// namespace log in as the user with their projected service-account token, so no
    /// Snowflake secret exists at all. The operator keeps one Snowflake workload identity
    /// per service account and writes a ConfigMap with the connection settings for them.
    /// Removing this field removes the identities (open sessions they authenticated end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentitySpec>,
}

fn default_deletion_policy() -> DeletionPolicy {
    DeletionPolicy::Retain
}

/// Observed state of a SnowflakeServiceUser, written by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeServiceUserStatus {
    /// Current state. `Ready` is True when the user exists in Snowflake and matches the
    /// spec; when False its reason and message say why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Name of the user in Snowflake (from `userName`, or derived from `metadata.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,

    /// Roles the operator has granted and will revoke when they leave `spec.roles`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_roles: Vec<String>,

    /// The workload identity federation in force: the issuer and subjects Snowflake
    /// trusts for this user, as last converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentityStatus>,
}

/// The trust the operator has set up in Snowflake for `spec.workloadIdentity`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentityStatus {
    /// The OIDC issuer trusted (given in the spec, or discovered from the cluster).
    pub issuer: String,
    /// The token subjects trusted, `system:serviceaccount:<namespace>:<name>`.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// The audiences accepted.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The Snowflake workload identities of the user that hold this trust.
    #[serde(default)]
    pub identities: Vec<String>,
    /// The ConfigMap with the connection settings for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
}

/// The Snowflake user name derived from a Kubernetes object name: uppercased, with the
/// characters Kubernetes allows but unquoted Snowflake identifiers do not (`-`, `.`)
/// replaced by `_`. A name starting with a digit gets a leading `_`.
pub fn user_name_from_object_name(object_name: &str) -> String {
    let mut name: String = object_name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

impl SnowflakeServiceUser {
    /// The name of the user in Snowflake: `spec.userName` (resolved as Snowflake resolves
    /// unquoted identifiers: uppercase), else derived from `metadata.name`.
    pub fn snowflake_user_name(&self) -> String {
        match &self.spec.user_name {
            Some(name) => super::desired::resolve_identifier(name),
            None => user_name_from_object_name(self.metadata.name.as_deref().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_user_names_are_valid_unquoted_identifiers() {
        assert_eq!(user_name_from_object_name("bi-gateway"), "BI_GATEWAY");
        assert_eq!(user_name_from_object_name("dbt.prod"), "DBT_PROD");
        assert_eq!(user_name_from_object_name("1st-team"), "_1ST_TEAM");
    }

    #[test]
    fn explicit_user_name_wins() {
        let spec: SnowflakeServiceUserSpec = serde_json::from_value(serde_json::json!({
            "connectionRef": {"name": "prod"},
            "userName": "TABLEAU_SVC",
        }))
        .expect("valid spec");
        assert_eq!(spec.deletion_policy, DeletionPolicy::Retain);
        let user = SnowflakeServiceUser::new("tableau", spec.clone());
        assert_eq!(user.snowflake_user_name(), "TABLEAU_SVC");
        let derived = SnowflakeServiceUser::new(
            "power-bi",
            SnowflakeServiceUserSpec {
                user_name: None,
                ..spec
            },
        );
        assert_eq!(derived.snowflake_user_name(), "POWER_BI");
    }
}
