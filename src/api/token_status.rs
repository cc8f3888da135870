//! Observed state of a `SnowflakeToken`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// The kind of credential a SnowflakeToken holds (shown in the `Type` column).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum CredentialKind {
    /// A programmatic access token.
    ProgrammaticAccessToken,
    /// A Snowflake OAuth access token.
    OAuth,
}

/// Observed state of a SnowflakeToken, written by the operator. Timestamps move only when
/// the credential changes, never on a no-op reconcile.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeTokenStatus {
    /// Current state. `Ready` is True when a valid credential is in the Secret; when
    /// False its reason and message say why (the previous good Secret is kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The kind of credential: `ProgrammaticAccessToken` or `OAuth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_type: Option<CredentialKind>,

    /// The Snowflake user the credential belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,

    /// Name of the programmatic access token in Snowflake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,

    /// When the credential in the Secret expires (for OAuth: the access token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,

    /// When the operator will renew the credential (rotate the PAT or refresh the access
    /// token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Time>,

    /// When the credential was last minted, rotated or refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,

    /// Name of the Secret holding the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// The value of the `snowflake-token-operator.io/rotate` annotation last honoured, so
    /// that each new value asks for exactly one rotation (and a restart asks for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotate_request: Option<String>,

    /// The value of the `snowflake-token-operator.io/revoke` annotation last honoured:
    /// each new value revokes the credential once (a PAT and its rotated-out values
    /// removed in Snowflake at once, without a grace period; an OAuth refresh token
    /// deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_revoke_request: Option<String>,

    /// Consecutive failed attempts since the last success (absent after a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_count: Option<i32>,

    /// When the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_time: Option<Time>,

    /// OAuth only: when the current access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<Time>,

    /// OAuth only: when the refresh token expires; a person must authorize again before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<Time>,
}
