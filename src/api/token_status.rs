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
    /// An RSA key pair.
    KeyPair,
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

    /// The kind of credential: `ProgrammaticAccessToken`, `OAuth` or `KeyPair`.
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

    /// Key pair only: the fingerprint (`SHA256:...`, as `DESC USER` shows it) of the
    /// public key whose private key is in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_fingerprint: Option<String>,

    /// Key pair only: the slot that key is registered in, 1 (`RSA_PUBLIC_KEY`) or 2
    /// (`RSA_PUBLIC_KEY_2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_slot: Option<i32>,

    /// Key pair only: the fingerprint of the previous key, still registered during the
    /// grace period after a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_public_key_fingerprint: Option<String>,

    /// Key pair only: when the previous key's slot is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_key_removal_time: Option<Time>,

    /// Key pair only: the fingerprint of a key being registered whose private key is not
    /// in the Secret yet. Recorded before the public key is registered, so that a key
    /// registered by an operator that stopped before storing it is recognised as the
    /// operator's own and replaced, never mistaken for one a person registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_public_key_fingerprint: Option<String>,
}
