//! The operator's watch cache of its Secrets, kept compact.
//!
//! A `Secret` decoded from the API keeps its labels, annotations and data in B-trees: a
//! B-tree node of about half a KiB each, even for two entries, and a `String` with spare
//! capacity per key and value. At 10,000 tokens the cached Secrets were the largest part
//! of the operator's memory (3.6 KB each in the heap profile). The cache keeps each of
//! them as exactly sized slices instead ([`CachedSecret`]) and gives the controllers the
//! same `Secret` back when they read it ([`CachedSecret::to_secret`]), so nothing that
//! reads a Secret changes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;

use super::writer::compact_for_cache;

/// Key-value pairs in one exactly sized allocation.
type Pairs<V> = Box<[(Box<str>, V)]>;

/// A Secret as the watch cache holds it: decoded from the API as a `Secret`, trimmed by
/// [`compact_for_cache`], its maps stored as [`Pairs`]. `Debug` names the data keys, never
/// their values.
#[derive(Clone, Deserialize)]
#[serde(from = "Secret")]
pub struct CachedSecret {
    /// The metadata, without its labels and annotations (below).
    metadata: ObjectMeta,
    labels: Option<Pairs<Box<str>>>,
    annotations: Option<Pairs<Box<str>>>,
    data: Option<Pairs<Box<[u8]>>>,
    type_: Option<Box<str>>,
    immutable: Option<bool>,
}

fn pairs<V, W>(map: Option<BTreeMap<String, V>>, convert: impl Fn(V) -> W) -> Option<Pairs<W>> {
    map.map(|map| {
        map.into_iter()
            .map(|(k, v)| (k.into_boxed_str(), convert(v)))
            .collect()
    })
}

fn map<V, W>(pairs: Option<&Pairs<V>>, convert: impl Fn(&V) -> W) -> Option<BTreeMap<String, W>> {
    pairs.map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), convert(v)))
            .collect()
    })
}

impl From<Secret> for CachedSecret {
    fn from(mut secret: Secret) -> Self {
        compact_for_cache(&mut secret);
        let mut metadata = secret.metadata;
        let labels = pairs(metadata.labels.take(), String::into_boxed_str);
        let annotations = pairs(metadata.annotations.take(), String::into_boxed_str);
        Self {
            metadata,
            labels,
            annotations,
            data: pairs(secret.data, |v| v.0.into_boxed_slice()),
            type_: secret.type_.map(String::into_boxed_str),
            immutable: secret.immutable,
        }
    }
}

impl CachedSecret {
    /// The Secret as the API answered it, less what [`compact_for_cache`] trims.
    pub fn to_secret(&self) -> Secret {
        let mut metadata = self.metadata.clone();
        metadata.labels = map(self.labels.as_ref(), ToString::to_string);
        metadata.annotations = map(self.annotations.as_ref(), ToString::to_string);
        Secret {
            metadata,
            data: map(self.data.as_ref(), |v| ByteString(v.to_vec())),
            type_: self.type_.as_deref().map(str::to_owned),
            immutable: self.immutable,
            string_data: None,
        }
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .flatten()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }
}

impl std::fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecret")
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("resource_version", &self.metadata.resource_version)
            .field(
                "data_keys",
                &self
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Resource for CachedSecret {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Secret::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Secret::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Secret::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        Secret::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Secret::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "pbi", "namespace": "bi", "uid": "u-1", "resourceVersion": "7",
                "labels": {"app.kubernetes.io/managed-by": "snowflake-token-operator",
                           "snowflake-token-operator.io/token": "pbi"},
                "annotations": {"snowflake-token-operator.io/issued-at": "2026-01-01T00:00:00Z"},
                "ownerReferences": [{"apiVersion": "snowflake-token-operator.io/v1alpha1",
                    "kind": "SnowflakeToken", "name": "pbi", "uid": "t-1", "controller": true}],
                "managedFields": [{
                    "manager": "snowflake-token-operator", "operation": "Apply",
                    "apiVersion": "v1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:password": {}}}
                }]
            },
            "type": "Opaque",
            "data": {"password": "c2VjcmV0LXBhdA==", "username": "U1ZD"},
        }))
        .expect("secret")
    }

    #[test]
    fn the_cached_form_gives_back_the_trimmed_secret() {
        let cached: CachedSecret =
            serde_json::from_value(serde_json::to_value(secret()).expect("json"))
                .expect("decodes as a Secret");
        let mut expected = secret();
        compact_for_cache(&mut expected);
        assert_eq!(cached.to_secret(), expected);
        assert_eq!(
            cached.label("snowflake-token-operator.io/token"),
            Some("pbi")
        );
        assert_eq!(cached.label("absent"), None);
    }

    #[test]
    fn debug_names_keys_but_not_values() {
        let cached = CachedSecret::from(secret());
        let shown = format!("{cached:?}");
        assert!(shown.contains("password"), "{shown}");
        assert!(!shown.contains("c2VjcmV0LXBhdA") && !shown.contains("secret-pat"));
    }
}
