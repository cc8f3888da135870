//! The Secret a `SnowflakeToken` writes: its desired content ([`desired_secret`], pure)
//! and how it is written ([`writer`]).
//!
//! Keys. PAT Secrets get `username`, `password` (the token, what BI tools take), `account`,
//! `host` and `expires_at`; OAuth Secrets `access_token`, `token_type`, `expires_at`,
//! `username`, `account` and `host`; key-pair Secrets `private_key`,
//! `private_key_passphrase` (encrypted keys only), `public_key_fingerprint`, `username`,
//! `account` and `host`. Each `spec.secret.template` entry adds a key rendered
//! from the same variables. **A template whose key is a default key replaces that key's
//! value** (as External Secrets' templates do): the one rule for collisions, so that a tool
//! wanting, say, `host` with a port or `username` in lowercase gets it without a second
//! key. The variables are the default keys of the kind, plus `token_name` and `role` for
//! PATs and `role` for OAuth.
//!
//! A key-pair Secret also records, in annotations, the slot of its key and the previous
//! key still registered during the grace period ([`KeyRecord`]): the record by which the
//! operator tells its own keys from keys a person registered.
//!
//! Metadata. The user's labels and annotations (the CRD refuses the operator's own keys in
//! them), plus the managed-by label, the token label and the issued-at annotation. With
//! `deletionPolicy: Delete` the Secret is owned by (and garbage-collected with) the token;
//! with `Retain` it carries no owner reference and outlives it.

pub mod cache;
pub mod template;
pub mod writer;

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use secrecy::{ExposeSecret, SecretString};

use crate::api::keys::{
    ANSWERS_ROTATE_ANNOTATION, EXPIRES_AT_ANNOTATION, ISSUED_AT_ANNOTATION, KEY_BITS_ANNOTATION,
    KEY_FINGERPRINT_ANNOTATION, KEY_SLOT_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL,
    OAUTH_ROLE_ANNOTATION, PREVIOUS_KEY_FINGERPRINT_ANNOTATION, PREVIOUS_KEY_REMOVAL_ANNOTATION,
    PREVIOUS_KEY_SLOT_ANNOTATION, REFRESH_TOKEN_SHA256_ANNOTATION, TOKEN_LABEL,
    TOKEN_NAME_ANNOTATION, VALUE_SHA256_ANNOTATION,
};
use crate::api::{DeletionPolicy, SnowflakeToken};

pub use template::TemplateError;

/// The credential a Secret carries, and what it was issued for. `Debug` hides the value.
pub enum CredentialValue {
    /// A programmatic access token.
    Pat {
        /// The token's secret.
        secret: SecretString,
        /// The token's name in Snowflake.
        token_name: String,
        /// The role restriction, if any.
        role: Option<String>,
        /// The rotate request this value answers, if any.
        answers_rotate: Option<String>,
    },
    /// An OAuth access token.
    OAuth {
        /// The access token.
        access_token: SecretString,
        /// Always `Bearer` with Snowflake.
        token_type: String,
        /// The session role of the token, if known.
        role: Option<String>,
        /// SHA-256 of the refresh token it came from (recorded, never written as a key).
        refreshed_from: String,
    },
    /// An RSA private key (PEM).
    KeyPair {
        /// The PKCS#8 PEM, encrypted when `passphrase` is set.
        private_key: SecretString,
        /// The passphrase of an encrypted key.
        passphrase: Option<SecretString>,
        /// Where its public key is registered, and the previous key still registered.
        record: KeyRecord,
        /// The rotate request this key answers, if any.
        answers_rotate: Option<String>,
    },
}

/// The public-key slots a key-pair Secret's record names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Fingerprint of the key in the Secret (`SHA256:...`).
    pub fingerprint: String,
    /// Its slot, 1 or 2.
    pub slot: u8,
    /// Its size in bits.
    pub bits: usize,
    /// The previous key, registered until its removal time.
    pub previous: Option<RetiringKey>,
}

/// A previous key still registered during the grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetiringKey {
    /// Its fingerprint.
    pub fingerprint: String,
    /// Its slot, 1 or 2.
    pub slot: u8,
    /// When its slot is unset.
    pub removal_at: Timestamp,
}

impl CredentialValue {
    /// The credential itself.
    pub fn value(&self) -> &SecretString {
        match self {
            Self::Pat { secret, .. } => secret,
            Self::OAuth { access_token, .. } => access_token,
            Self::KeyPair { private_key, .. } => private_key,
        }
    }

    /// The Secret key the credential is written under (`password`, `access_token` or
    /// `private_key`).
    pub fn key(&self) -> &'static str {
        match self {
            Self::Pat { .. } => PAT_VALUE_KEY,
            Self::OAuth { .. } => OAUTH_VALUE_KEY,
            Self::KeyPair { .. } => KEY_PAIR_VALUE_KEY,
        }
    }
}

/// The Secret key of a PAT.
pub const PAT_VALUE_KEY: &str = "password";
/// The Secret key of an OAuth access token.
pub const OAUTH_VALUE_KEY: &str = "access_token";
/// The Secret key of a private key.
pub const KEY_PAIR_VALUE_KEY: &str = "private_key";
/// The Secret key of an encrypted private key's passphrase.
pub const PASSPHRASE_KEY: &str = "private_key_passphrase";

/// SHA-256 (hex) of a credential, recorded beside it in the Secret.
pub fn value_digest(value: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl std::fmt::Debug for CredentialValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pat { token_name, .. } => f
                .debug_struct("Pat")
                .field("token_name", token_name)
                .finish_non_exhaustive(),
            Self::OAuth { .. } => f.debug_struct("OAuth").finish_non_exhaustive(),
            Self::KeyPair { record, .. } => f
                .debug_struct("KeyPair")
                .field("record", record)
                .finish_non_exhaustive(),
        }
    }
}

/// Everything written into the Secret besides the spec's own settings.
#[derive(Debug)]
pub struct SecretContent {
    /// The Snowflake user.
    pub username: String,
    /// The account identifier, as connectors take it (`myorg-analytics`).
    pub account: String,
    /// The host name (and port, when not the default).
    pub host: String,
    /// When the credential expires (not written for key pairs: keys do not expire).
    pub expires_at: Timestamp,
    /// When the credential was issued (minted, rotated or refreshed).
    pub issued_at: Timestamp,
    /// The credential.
    pub credential: CredentialValue,
}

impl SecretContent {
    /// The default keys and values of the credential's kind (also the template variables).
    fn variables(&self) -> BTreeMap<&'static str, String> {
        let mut vars = BTreeMap::from([
            ("username", self.username.clone()),
            ("account", self.account.clone()),
            ("host", self.host.clone()),
        ]);
        if !matches!(self.credential, CredentialValue::KeyPair { .. }) {
            vars.insert("expires_at", self.expires_at.to_string());
        }
        match &self.credential {
            CredentialValue::Pat {
                secret,
                token_name,
                role,
                ..
            } => {
                vars.insert("password", secret.expose_secret().to_owned());
                vars.insert("token_name", token_name.clone());
                vars.insert("role", role.clone().unwrap_or_default());
            }
            CredentialValue::OAuth {
                access_token,
                token_type,
                role,
                ..
            } => {
                vars.insert("access_token", access_token.expose_secret().to_owned());
                vars.insert("token_type", token_type.clone());
                vars.insert("role", role.clone().unwrap_or_default());
            }
            CredentialValue::KeyPair {
                private_key,
                passphrase,
                record,
                ..
            } => {
                vars.insert(KEY_PAIR_VALUE_KEY, private_key.expose_secret().to_owned());
                if let Some(passphrase) = passphrase {
                    vars.insert(PASSPHRASE_KEY, passphrase.expose_secret().to_owned());
                }
                vars.insert("public_key_fingerprint", record.fingerprint.clone());
            }
        }
        vars
    }

    /// The Secret keys written by default: the variables without the extras.
    fn default_keys(&self) -> &'static [&'static str] {
        match self.credential {
            CredentialValue::Pat { .. } => {
                &["username", "password", "account", "host", "expires_at"]
            }
            CredentialValue::OAuth { .. } => &[
                "access_token",
                "token_type",
                "expires_at",
                "username",
                "account",
                "host",
            ],
            CredentialValue::KeyPair { .. } => &[
                KEY_PAIR_VALUE_KEY,
                PASSPHRASE_KEY,
                "public_key_fingerprint",
                "username",
                "account",
                "host",
            ],
        }
    }
}

/// The Secret `token` wants written with `content`.
pub fn desired_secret(
    token: &SnowflakeToken,
    content: &SecretContent,
) -> Result<Secret, TemplateError> {
    let spec = &token.spec.secret;
    let variables = content.variables();
    let mut data: BTreeMap<String, ByteString> = content
        .default_keys()
        .iter()
        .filter_map(|key| {
            variables
                .get(key)
                .map(|v| ((*key).to_owned(), ByteString(v.clone().into_bytes())))
        })
        .collect();
    for (key, value) in template::render_all(&spec.template, &variables)? {
        // The documented rule: a template replaces a default key of the same name.
        data.insert(key, ByteString(value.into_bytes()));
    }

    let token_name = token.metadata.name.clone().unwrap_or_default();
    let mut labels = spec.labels.clone();
    labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned());
    labels.insert(TOKEN_LABEL.to_owned(), token_name);
    let mut annotations = spec.annotations.clone();
    annotations.insert(
        ISSUED_AT_ANNOTATION.to_owned(),
        content.issued_at.to_string(),
    );
    if !matches!(content.credential, CredentialValue::KeyPair { .. }) {
        annotations.insert(
            EXPIRES_AT_ANNOTATION.to_owned(),
            content.expires_at.to_string(),
        );
    }
    annotations.insert(
        VALUE_SHA256_ANNOTATION.to_owned(),
        value_digest(content.credential.value().expose_secret()),
    );
    match &content.credential {
        CredentialValue::Pat {
            token_name,
            answers_rotate,
            ..
        } => {
            annotations.insert(TOKEN_NAME_ANNOTATION.to_owned(), token_name.clone());
            if let Some(request) = answers_rotate {
                annotations.insert(ANSWERS_ROTATE_ANNOTATION.to_owned(), request.clone());
            }
        }
        CredentialValue::OAuth {
            refreshed_from,
            role,
            ..
        } => {
            annotations.insert(
                REFRESH_TOKEN_SHA256_ANNOTATION.to_owned(),
                refreshed_from.clone(),
            );
            if let Some(role) = role {
                annotations.insert(OAUTH_ROLE_ANNOTATION.to_owned(), role.clone());
            }
        }
        CredentialValue::KeyPair {
            record,
            answers_rotate,
            ..
        } => {
            annotations.insert(
                KEY_FINGERPRINT_ANNOTATION.to_owned(),
                record.fingerprint.clone(),
            );
            annotations.insert(KEY_SLOT_ANNOTATION.to_owned(), record.slot.to_string());
            annotations.insert(KEY_BITS_ANNOTATION.to_owned(), record.bits.to_string());
            if let Some(previous) = &record.previous {
                annotations.insert(
                    PREVIOUS_KEY_FINGERPRINT_ANNOTATION.to_owned(),
                    previous.fingerprint.clone(),
                );
                annotations.insert(
                    PREVIOUS_KEY_SLOT_ANNOTATION.to_owned(),
                    previous.slot.to_string(),
                );
                annotations.insert(
                    PREVIOUS_KEY_REMOVAL_ANNOTATION.to_owned(),
                    previous.removal_at.to_string(),
                );
            }
            if let Some(request) = answers_rotate {
                annotations.insert(ANSWERS_ROTATE_ANNOTATION.to_owned(), request.clone());
            }
        }
    }
    let owner_references = match token.spec.deletion_policy {
        DeletionPolicy::Delete => token.controller_owner_ref(&()).map(|owner| {
            vec![OwnerReference {
                // The operator never needs foreground deletion to wait for its Secrets.
                block_owner_deletion: None,
                ..owner
            }]
        }),
        DeletionPolicy::Retain => None,
    };
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(token.secret_name()),
            namespace: token.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references,
            ..ObjectMeta::default()
        },
        type_: Some(spec.type_.as_str().to_owned()),
        data: Some(data),
        ..Secret::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(secret: serde_json::Value, deletion: &str) -> SnowflakeToken {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "snowflake-token-operator.io/v1alpha1",
            "kind": "SnowflakeToken",
            "metadata": {"name": "pbi", "namespace": "bi", "uid": "0000-1111"},
            "spec": {
                "connectionRef": {"name": "prod"},
                "user": {"name": "BI_SVC"},
                "programmaticAccessToken": {"roleRestriction": "ANALYST"},
                "secret": secret,
                "deletionPolicy": deletion,
            }
        }))
        .expect("token")
    }

    fn pat_content() -> SecretContent {
        SecretContent {
            username: "BI_SVC".into(),
            account: "myorg-acct".into(),
            host: "myorg-acct.snowflakecomputing.com".into(),
            expires_at: "2026-04-01T00:00:00Z".parse().expect("timestamp"),
            issued_at: "2026-03-01T00:00:00Z".parse().expect("timestamp"),
            credential: CredentialValue::Pat {
                secret: SecretString::from("pat-secret-value"),
                token_name: "PBI".into(),
                role: Some("ANALYST".into()),
                answers_rotate: None,
            },
        }
    }

    fn keys(secret: &Secret) -> Vec<String> {
        secret
            .data
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn text(secret: &Secret, key: &str) -> Option<String> {
        let data = secret.data.as_ref()?;
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    }

    #[test]
    fn a_pat_secret_has_the_default_keys_labels_and_owner() {
        let secret = desired_secret(&token(serde_json::json!({}), "Delete"), &pat_content())
            .expect("renders");
        let keys = keys(&secret);
        assert_eq!(
            keys,
            ["account", "expires_at", "host", "password", "username"]
        );
        assert_eq!(
            text(&secret, "password").as_deref(),
            Some("pat-secret-value")
        );
        assert_eq!(
            text(&secret, "expires_at").as_deref(),
            Some("2026-04-01T00:00:00Z")
        );
        assert_eq!(secret.metadata.name.as_deref(), Some("pbi"));
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let labels = secret.metadata.labels.as_ref().expect("labels");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(labels[TOKEN_LABEL], "pbi");
        let owners = secret.metadata.owner_references.as_ref().expect("owned");
        assert_eq!(owners[0].kind, "SnowflakeToken");
        assert_eq!(owners[0].controller, Some(true));
    }

    #[test]
    fn retained_secrets_have_no_owner() {
        let secret = desired_secret(&token(serde_json::json!({}), "Retain"), &pat_content())
            .expect("renders");
        assert_eq!(secret.metadata.owner_references, None);
    }

    #[test]
    fn templates_add_keys_and_replace_default_keys_of_the_same_name() {
        let spec = serde_json::json!({
            "name": "pbi-snowflake",
            "type": "kubernetes.io/basic-auth",
            "labels": {"team": "bi"},
            "template": {
                "jdbc_url": "jdbc:snowflake://{{ host }}/?user={{ username }}",
                "username": "{{ username | lower }}",
            },
        });
        let secret = desired_secret(&token(spec, "Delete"), &pat_content()).expect("renders");
        assert_eq!(secret.metadata.name.as_deref(), Some("pbi-snowflake"));
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(
            text(&secret, "jdbc_url").as_deref(),
            Some("jdbc:snowflake://myorg-acct.snowflakecomputing.com/?user=BI_SVC")
        );
        assert_eq!(text(&secret, "username").as_deref(), Some("bi_svc"));
        assert_eq!(
            text(&secret, "password").as_deref(),
            Some("pat-secret-value")
        );
        assert_eq!(
            secret.metadata.labels.as_ref().expect("labels")["team"],
            "bi"
        );
    }

    #[test]
    fn oauth_secrets_have_their_own_keys() {
        let content = SecretContent {
            credential: CredentialValue::OAuth {
                access_token: SecretString::from("access-token-value"),
                token_type: "Bearer".into(),
                role: None,
                refreshed_from: "0".repeat(64),
            },
            ..pat_content()
        };
        let secret =
            desired_secret(&token(serde_json::json!({}), "Delete"), &content).expect("renders");
        let keys = keys(&secret);
        assert_eq!(
            keys,
            [
                "access_token",
                "account",
                "expires_at",
                "host",
                "token_type",
                "username"
            ]
        );
        assert!(!format!("{content:?}").contains("access-token-value"));
    }

    #[test]
    fn a_broken_template_is_an_error_not_a_partial_secret() {
        let spec = serde_json::json!({"template": {"profiles.yml": "{{ nope }}"}});
        let err = desired_secret(&token(spec, "Delete"), &pat_content()).unwrap_err();
        assert_eq!(err.key, "profiles.yml");
    }
}
