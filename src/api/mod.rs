//! Custom resource types: `SnowflakeConnection`, `SnowflakeServiceUser`, `SnowflakeToken`.
//!
//! Group `snowflake-token-operator.io`, version `v1alpha1`, all namespaced, category
//! `snowflake`. Validation lives in the schema (CEL rules, patterns, ranges), so the API
//! server refuses bad manifests at `kubectl apply`.

pub mod conditions;
pub mod connection;
pub mod crd_yaml;
pub mod desired;
pub mod duration;
pub mod keys;
pub mod refs;
pub mod rules;
#[cfg(test)]
mod schema_tests;
pub mod service_user;
pub mod token;
pub mod token_keypair;
pub mod token_oauth;
pub mod token_secret;
pub mod token_status;
pub mod workload_identity;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use connection::{
    ConnectionAuth, KeyPairAuth, SnowflakeConnection, SnowflakeConnectionSpec,
    SnowflakeConnectionStatus,
};
pub use duration::{DurationError, GoDuration};
pub use refs::{LocalObjectRef, SecretKeyRef};
pub use service_user::{
    DeletionPolicy, SnowflakeServiceUser, SnowflakeServiceUserSpec, SnowflakeServiceUserStatus,
};
pub use token::{
    Credential, CredentialKind, OnDisabled, PatSpec, RotationGrace, SnowflakeToken,
    SnowflakeTokenSpec, SnowflakeTokenStatus, TokenUser,
};
pub use token_keypair::{KeyPairSpec, PrivateKeyFormat};
pub use token_oauth::{OAuthClientSecretRef, OAuthSpec};
pub use token_secret::{RolloutKind, RolloutTarget, SecretType, TokenSecretSpec};
pub use workload_identity::{ConsumerConfigMapSpec, WorkloadIdentitySpec};

/// The API group of all three kinds.
pub const GROUP: &str = "snowflake-token-operator.io";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
/// The field manager the operator uses for every server-side apply.
pub const FIELD_MANAGER: &str = "snowflake-token-operator";

/// The CustomResourceDefinitions of the three kinds, in dependency order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        SnowflakeConnection::crd(),
        SnowflakeServiceUser::crd(),
        SnowflakeToken::crd(),
    ]
}
