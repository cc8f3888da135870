//! Writing the desired Secret: server-side apply with the operator's one field manager,
//! no write at all when nothing changed, and the two changes of `spec.secret` that a plain
//! apply cannot make.
//!
//! * `spec.secret.type` changed: a Secret's `type` is immutable in Kubernetes, so the old
//!   Secret is deleted (guarded by its uid and resourceVersion) and the new one created at
//!   once. Running pods keep the files they mounted; a pod starting in the moment between
//!   the two calls waits for the Secret like any pod whose Secret is not there yet.
//! * `spec.secret.name` changed: the new Secret is written first, then the old one (named
//!   by `status.secretName`) is deleted, so consumers of either name are never without one.
//!
//! The operator only ever touches Secrets it manages: a Secret of the desired name that
//! lacks the managed-by label, or that belongs to another SnowflakeToken, is refused with
//! an error (never taken over, never overwritten), and an old Secret is deleted only if it
//! is this token's.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::Value;

use crate::api::FIELD_MANAGER;
use crate::api::keys::{MANAGED_BY, MANAGED_BY_LABEL, TOKEN_LABEL};

/// What writing the Secret did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The Secret already was as desired: nothing was written.
    Unchanged,
    /// The Secret did not exist and was created.
    Created,
    /// The Secret was updated (a new credential, or repaired after an edit).
    Updated,
    /// The Secret's type changed: it was deleted and created again.
    Recreated,
}

/// The outcome of [`write_secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// What happened to the desired Secret.
    pub written: Written,
    /// The old Secret deleted after `spec.secret.name` changed.
    pub removed_old: Option<String>,
}

/// Why the Secret could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A Secret of that name exists and is not managed by the operator.
    #[error(
        "Secret {name} already exists and is not managed by snowflake-token-operator (no {MANAGED_BY_LABEL}={MANAGED_BY} label); it is left alone: choose another spec.secret.name, or delete that Secret"
    )]
    NotManaged {
        /// The Secret's name.
        name: String,
    },
    /// A Secret of that name is managed for another SnowflakeToken.
    #[error(
        "Secret {name} holds the credential of SnowflakeToken {owner}; two tokens cannot share a Secret: choose another spec.secret.name"
    )]
    OtherToken {
        /// The Secret's name.
        name: String,
        /// The token it belongs to.
        owner: String,
    },
    /// The desired Secret has no name (a bug: the caller builds it).
    #[error("the desired Secret has no name")]
    Unnamed,
    /// The API server refused a request.
    #[error("cannot write Secret {name}: {source}")]
    Kube {
        /// The Secret's name.
        name: String,
        /// The API error (never carries the Secret's data).
        source: kube::Error,
    },
}

impl WriteError {
    /// Whether trying again later may succeed without a change of input.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { source, .. } => !matches!(
                source,
                kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 409 && status.code != 429
            ),
            _ => false,
        }
    }
}

/// Writes `desired` (from [`super::desired_secret`]); `previous_name` is the Secret the
/// token wrote before (`status.secretName`), deleted when it differs.
pub async fn write_secret(
    api: &Api<Secret>,
    desired: &Secret,
    previous_name: Option<&str>,
) -> Result<WriteOutcome, WriteError> {
    let name = desired.metadata.name.clone().ok_or(WriteError::Unnamed)?;
    let current = api
        .get_opt(&name)
        .await
        .map_err(|source| WriteError::Kube {
            name: name.clone(),
            source,
        })?;
    write_observed(api, desired, previous_name, current).await
}

/// [`write_secret`] with the Secret as the caller observed it (from the watch cache):
/// `None` only when it is known not to exist.
pub async fn write_observed(
    api: &Api<Secret>,
    desired: &Secret,
    previous_name: Option<&str>,
    current: Option<Secret>,
) -> Result<WriteOutcome, WriteError> {
    let name = desired.metadata.name.clone().ok_or(WriteError::Unnamed)?;
    let kube = |source| WriteError::Kube {
        name: name.clone(),
        source,
    };
    let token = label(desired, TOKEN_LABEL).unwrap_or_default().to_owned();
    let written = match current {
        Some(current) => {
            check_ours(&current, &name, &token)?;
            if current.type_ != desired.type_ {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: current.metadata.uid.clone(),
                        resource_version: current.metadata.resource_version.clone(),
                    }),
                    ..DeleteParams::default()
                };
                api.delete(&name, &params).await.map_err(kube)?;
                apply(api, &name, desired).await.map_err(kube)?;
                Written::Recreated
            } else if is_as_desired(&current, desired) {
                Written::Unchanged
            } else {
                apply(api, &name, desired).await.map_err(kube)?;
                Written::Updated
            }
        }
        None => {
            apply(api, &name, desired).await.map_err(kube)?;
            Written::Created
        }
    };
    let mut removed_old = None;
    if let Some(old) = previous_name.filter(|old| *old != name) {
        let kube = |source| WriteError::Kube {
            name: old.to_owned(),
            source,
        };
        if let Some(secret) = api.get_opt(old).await.map_err(kube)?
            && check_ours(&secret, old, &token).is_ok()
        {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: secret.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(old, &params).await {
                Ok(_) => removed_old = Some(old.to_owned()),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(kube(e)),
            }
        }
    }
    Ok(WriteOutcome {
        written,
        removed_old,
    })
}

async fn apply(api: &Api<Secret>, name: &str, desired: &Secret) -> Result<Secret, kube::Error> {
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(desired),
    )
    .await
}

fn label<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Whether `secret` (named `name`) may be written for the token `token`: managed by the
/// operator and not holding another token's credential.
pub fn check_ours(secret: &Secret, name: &str, token: &str) -> Result<(), WriteError> {
    if label(secret, MANAGED_BY_LABEL) != Some(MANAGED_BY) {
        return Err(WriteError::NotManaged {
            name: name.to_owned(),
        });
    }
    match label(secret, TOKEN_LABEL) {
        Some(owner) if owner != token => Err(WriteError::OtherToken {
            name: name.to_owned(),
            owner: owner.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The fields the operator's field manager applied, from the Secret's managed fields
/// (`{"f:data": {"f:password": {}}, ...}`), or `Null` when it applied none.
fn applied_fields(current: &Secret) -> Value {
    current
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|entry| {
            entry.manager.as_deref() == Some(FIELD_MANAGER)
                && entry.operation.as_deref() == Some("Apply")
        })
        .and_then(|entry| entry.fields_v1.as_ref())
        .map_or(Value::Null, |fields| fields.0.clone())
}

/// The paths of [`applied_fields`] whose keys [`is_as_desired`] reads.
const OWNED_PATHS: [&[&str]; 3] = [
    &["f:data"],
    &["f:metadata", "f:labels"],
    &["f:metadata", "f:annotations"],
];

/// Trims a Secret for the cache: of its managed fields only the operator's own `Apply`
/// entry is kept, and of that only the keys [`is_as_desired`] reads (data, labels,
/// annotations), each as `{}`. The full entries are a JSON tree per field manager
/// (owner references, type, timestamps): at 10,000 Secrets they were most of the
/// operator's memory.
pub fn compact_for_cache(secret: &mut Secret) {
    let Some(entries) = secret.metadata.managed_fields.take() else {
        return;
    };
    let Some(ours) = entries.into_iter().find(|entry| {
        entry.manager.as_deref() == Some(FIELD_MANAGER)
            && entry.operation.as_deref() == Some("Apply")
    }) else {
        return;
    };
    let applied = ours.fields_v1.map_or(Value::Null, |fields| fields.0);
    // One string, a line per owned key (`<index in OWNED_PATHS>\t<key>`): a tree of JSON
    // maps costs a B-tree node (about half a KiB) per level and key set, several KiB a
    // Secret at 10,000 Secrets. Label, annotation and data keys hold no tab or newline.
    let mut compact = String::new();
    for (index, path) in OWNED_PATHS.iter().enumerate() {
        for key in owned_keys(&applied, path) {
            compact.push_str(&format!("{index}\t{key}\n"));
        }
    }
    if compact.is_empty() {
        return;
    }
    compact.shrink_to_fit();
    secret.metadata.managed_fields = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
            manager: ours.manager,
            operation: ours.operation,
            fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
                Value::String(compact),
            )),
            ..Default::default()
        },
    ]);
}

/// The keys under `path` (for example `["f:metadata", "f:labels"]`) of [`applied_fields`].
fn owned_keys(applied: &Value, path: &[&str]) -> BTreeSet<String> {
    if let Value::String(compact) = applied {
        // The cache's form (see [`compact_for_cache`]).
        let Some(index) = OWNED_PATHS.iter().position(|p| *p == path) else {
            return BTreeSet::new();
        };
        let prefix = format!("{index}\t");
        return compact
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect();
    }
    let node = path.iter().fold(applied, |node, step| &node[*step]);
    node.as_object()
        .into_iter()
        .flat_map(|map| map.keys())
        .filter_map(|k| k.strip_prefix("f:"))
        .map(str::to_owned)
        .collect()
}

/// Whether `current` already holds exactly what applying `desired` would set: the same
/// values, and the operator owning the same keys (a key dropped from the spec must go).
fn is_as_desired(current: &Secret, desired: &Secret) -> bool {
    fn same<V: PartialEq>(
        current: Option<&BTreeMap<String, V>>,
        desired: Option<&BTreeMap<String, V>>,
        owned: BTreeSet<String>,
    ) -> bool {
        let empty = BTreeMap::new();
        let (current, desired) = (current.unwrap_or(&empty), desired.unwrap_or(&empty));
        owned == desired.keys().cloned().collect::<BTreeSet<_>>()
            && desired.iter().all(|(k, v)| current.get(k) == Some(v))
    }
    let applied = applied_fields(current);
    same(
        current.data.as_ref(),
        desired.data.as_ref(),
        owned_keys(&applied, &["f:data"]),
    ) && same(
        current.metadata.labels.as_ref(),
        desired.metadata.labels.as_ref(),
        owned_keys(&applied, &["f:metadata", "f:labels"]),
    ) && same(
        current.metadata.annotations.as_ref(),
        desired.metadata.annotations.as_ref(),
        owned_keys(&applied, &["f:metadata", "f:annotations"]),
    ) && current
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default()
        == desired
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(managed: Value) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "pbi",
                "labels": {"app.kubernetes.io/managed-by": "snowflake-token-operator", "team": "bi"},
                "annotations": {"snowflake-token-operator.io/issued-at": "2026-01-01T00:00:00Z", "note": "x"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u"}],
                "managedFields": managed,
            },
            "data": {"password": "c2VjcmV0", "other": "eA=="},
        }))
        .expect("secret")
    }

    #[test]
    fn the_cached_secret_keeps_only_what_the_comparison_reads() {
        let managed = serde_json::json!([
            {
                "manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": "v1",
                "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:data": {"f:password": {}},
                    "f:metadata": {
                        "f:labels": {"f:app.kubernetes.io/managed-by": {}},
                        "f:annotations": {"f:snowflake-token-operator.io/issued-at": {}},
                        "f:ownerReferences": {"k:{\"uid\":\"u\"}": {".": {}, "f:name": {}}},
                    },
                    "f:type": {},
                },
            },
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:other": {}}}},
        ]);
        let full = secret(managed);
        let mut compact = full.clone();
        compact_for_cache(&mut compact);
        let entries = compact.metadata.managed_fields.clone().expect("ours kept");
        assert_eq!(entries.len(), 1);
        let fields = &entries[0].fields_v1.as_ref().expect("fields").0;
        for (path, keys) in [
            (OWNED_PATHS[0], vec!["password"]),
            (OWNED_PATHS[1], vec!["app.kubernetes.io/managed-by"]),
            (
                OWNED_PATHS[2],
                vec!["snowflake-token-operator.io/issued-at"],
            ),
        ] {
            assert_eq!(
                owned_keys(fields, path),
                keys.into_iter().map(str::to_owned).collect::<BTreeSet<_>>()
            );
        }
        // The comparison reads the same from both.
        let mut desired = full.clone();
        desired.metadata.managed_fields = None;
        desired.data = Some(
            [(
                "password".to_owned(),
                k8s_openapi::ByteString(b"secret".to_vec()),
            )]
            .into(),
        );
        desired.metadata.labels = Some(
            [(
                "app.kubernetes.io/managed-by".to_owned(),
                "snowflake-token-operator".to_owned(),
            )]
            .into(),
        );
        desired.metadata.annotations = Some(
            [(
                "snowflake-token-operator.io/issued-at".to_owned(),
                "2026-01-01T00:00:00Z".to_owned(),
            )]
            .into(),
        );
        assert!(is_as_desired(&full, &desired));
        assert!(is_as_desired(&compact, &desired));
        let mut without_label = desired.clone();
        without_label.metadata.labels = None;
        assert!(!is_as_desired(&full, &without_label));
        assert!(
            !is_as_desired(&compact, &without_label),
            "a key we own but no longer render must go"
        );
    }

    #[test]
    fn a_secret_without_our_apply_keeps_no_managed_fields() {
        let mut other = secret(serde_json::json!([
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:other": {}}}},
        ]));
        compact_for_cache(&mut other);
        assert!(other.metadata.managed_fields.is_none());
    }
}
