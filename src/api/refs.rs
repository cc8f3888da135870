//! References from one resource to another object in the same namespace.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A reference to another object of this operator (a `SnowflakeConnection` or a
/// `SnowflakeServiceUser`) in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = crate::api::rules::no_cross_namespace("the referenced object"))]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the referenced object. It must be in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::kubernetes_name())]
    pub name: String,

    /// Not supported: references never leave this resource's namespace. Present only so
    /// that a manifest setting it is refused with an explanation instead of having the
    /// field silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}

impl LocalObjectRef {
    /// A reference to `name` in this resource's namespace.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: None,
        }
    }
}

/// A reference to one key of a Kubernetes Secret in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = crate::api::rules::no_cross_namespace("the Secret"))]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret. It must be in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::kubernetes_name())]
    pub name: String,

    /// Key in the Secret's data whose value is used.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = crate::api::rules::secret_key())]
    pub key: String,

    /// Not supported: Secrets are always read from this resource's namespace. Present only
    /// so that a manifest setting it is refused with an explanation instead of having the
    /// field silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}

impl SecretKeyRef {
    /// A reference to `key` of the Secret `name` in this resource's namespace.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key: key.into(),
            namespace: None,
        }
    }
}
