//! `SnowflakeConnection`: how the operator reaches one Snowflake account and proves who it is.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::refs::SecretKeyRef;

/// How the operator reaches one Snowflake account and authenticates as an administrative
/// user. Key-pair authentication is required: a session opened with a programmatic
/// access token cannot create or rotate programmatic access tokens.
// Each printcolumn(...) repeats `type_ = "string"`, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "snowflake-token-operator.io",
    version = "v1alpha1",
    kind = "SnowflakeConnection",
    namespaced,
    status = "SnowflakeConnectionStatus",
    shortname = "sfconn",
    category = "snowflake",
    doc = "A Snowflake account and the admin identity (user + RSA key pair) the operator uses to manage service users and tokens in it.",
    printcolumn(
        name = "Account",
        type_ = "string",
        json_path = ".spec.account",
        description = "Snowflake account identifier"
    ),
    printcolumn(
        name = "User",
        type_ = "string",
        json_path = ".spec.user",
        description = "Admin user the operator authenticates as"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the operator authenticated and ran a verification statement"
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
#[serde(rename_all = "camelCase")]
pub struct SnowflakeConnectionSpec {
    /// Snowflake account identifier: the preferred `<orgname>-<account_name>` form (for
    /// example `myorg-analytics`) or a legacy locator with region (for example
    /// `xy12345.us-east-2.aws`). Used in key-pair JWTs and, unless `host` is set, to build
    /// the host name `<account>.snowflakecomputing.com`.
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = Rule::new(r"self.matches(r'^[A-Za-z][A-Za-z0-9_]*([-.][A-Za-z0-9_]+)*$')").message(
        "must be a Snowflake account identifier such as myorg-myaccount or a locator such as xy12345.us-east-2.aws"
    ))]
    pub account: String,

    /// Base URL of the Snowflake endpoint, overriding the one derived from `account`:
    /// for PrivateLink (`https://myorg-myaccount.privatelink.snowflakecomputing.com`), a
    /// proxy, or a test emulator. Scheme and host (and optional port) only, no path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(r"self.matches(r'^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$')").message(
        "must be a base URL such as https://myorg-myaccount.privatelink.snowflakecomputing.com (scheme, host and optional port; no path)"
    ))]
    pub host: Option<String>,

    /// Snowflake user the operator authenticates as. It needs the privileges to manage the
    /// service users and tokens of this connection (for example a role with CREATE USER
    /// and OWNERSHIP or MODIFY PROGRAMMATIC AUTHENTICATION METHODS on the managed users).
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub user: String,

    /// Role the operator's statements run as. Defaults to the user's default role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = crate::api::rules::snowflake_identifier())]
    pub role: Option<String>,

    /// How the operator proves its identity to Snowflake.
    pub auth: ConnectionAuth,
}

/// Authentication of the operator's admin user.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionAuth {
    /// Key-pair authentication: the operator signs short-lived JWTs with an RSA private
    /// key whose public key is registered on the user (`ALTER USER ... SET RSA_PUBLIC_KEY`).
    pub key_pair: KeyPairAuth,
}

/// An RSA private key, stored in a Secret in this namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyPairAuth {
    /// The Secret key holding the PEM-encoded RSA private key (PKCS#8, 2048 bits or more;
    /// encrypted PKCS#8 when `passphraseSecretRef` is set).
    pub private_key_secret_ref: SecretKeyRef,

    /// The Secret key holding the passphrase of an encrypted private key. Omit for an
    /// unencrypted key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_secret_ref: Option<SecretKeyRef>,
}

/// Observed state of a SnowflakeConnection, written by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeConnectionStatus {
    /// Current state. `Ready` is True once the operator authenticated and ran
    /// `SELECT CURRENT_USER(), CURRENT_ROLE()`; when False its reason and message say why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Fingerprint of the public key of the configured private key, in Snowflake's format
    /// (`SHA256:<base64>`), to compare with `RSA_PUBLIC_KEY_FP` of `DESC USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_fingerprint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(account: &str, host: Option<&str>) -> SnowflakeConnectionSpec {
        SnowflakeConnectionSpec {
            account: account.into(),
            host: host.map(str::to_owned),
            user: "token_admin".into(),
            role: Some("useradmin".into()),
            auth: ConnectionAuth {
                key_pair: KeyPairAuth {
                    private_key_secret_ref: SecretKeyRef::new("snowflake-admin-key", "rsa_key.p8"),
                    passphrase_secret_ref: None,
                },
            },
        }
    }

    #[test]
    fn the_account_url_comes_from_the_client_s_one_rule() {
        // `_` is not allowed in host names: Snowflake serves it as `-`.
        let derived = spec("MyOrg-My_Acct", None)
            .snowflake_account()
            .expect("account");
        assert_eq!(
            derived.base_url().as_str(),
            "https://myorg-my-acct.snowflakecomputing.com/"
        );
        let privatelink = spec("myorg-analytics.privatelink", None)
            .snowflake_account()
            .expect("account");
        assert_eq!(
            privatelink.base_url().as_str(),
            "https://myorg-analytics.privatelink.snowflakecomputing.com/"
        );
        let emulator = spec("myorg-analytics", Some("http://127.0.0.1:8080/"))
            .snowflake_account()
            .expect("account");
        assert_eq!(
            emulator.url("/api/v2/statements"),
            "http://127.0.0.1:8080/api/v2/statements"
        );
        assert_eq!(emulator.jwt_account(), "MYORG-ANALYTICS");
    }

    #[test]
    fn admin_names_resolve_to_uppercase() {
        let spec = spec("myorg-analytics", None);
        assert_eq!(spec.admin_user(), "TOKEN_ADMIN");
        assert_eq!(spec.admin_role().as_deref(), Some("USERADMIN"));
    }
}
