//! Workload identity federation for a `SnowflakeServiceUser` (`spec.workloadIdentity`):
//! the issuer the Snowflake identities trust, and the ConfigMap of connection settings the
//! pods read.
//!
//! The issuer is the spec's, else the cluster's own, read once from the API server's
//! `/.well-known/openid-configuration` (the `iss` its service-account tokens carry). When
//! neither is known the user is not converged at all: converging without it would remove
//! the identities that let pods log in.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::Deserialize;

use super::context::Context;
use super::error::Error;
use crate::api::keys::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::api::{FIELD_MANAGER, SnowflakeConnection, SnowflakeServiceUser, WorkloadIdentitySpec};
use crate::snowflake::{Account, WorkloadIdentity};

/// The API server's OIDC discovery document (only its issuer is read).
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Label on the ConfigMap naming the SnowflakeServiceUser it belongs to.
pub const SERVICE_USER_LABEL: &str = "snowflake-token-operator.io/service-user";

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
}

/// The cluster's service-account token issuer, from its discovery document.
pub async fn discover_issuer(client: &kube::Client) -> Result<String, Error> {
    let request = http::Request::get(DISCOVERY_PATH)
        .body(Vec::new())
        .map_err(|e| Error::IssuerUnknown(e.to_string()))?;
    let text = client.request_text(request).await.map_err(|e| {
        Error::IssuerUnknown(format!(
            "reading the cluster's {DISCOVERY_PATH} failed ({e}); the operator needs get on \
             that URL (its ClusterRole grants it), and the API server must have service-account \
             issuer discovery enabled"
        ))
    })?;
    let discovery: Discovery = serde_json::from_str(&text).map_err(|e| {
        Error::IssuerUnknown(format!(
            "the cluster's {DISCOVERY_PATH} names no issuer: {e}"
        ))
    })?;
    Ok(discovery.issuer)
}

/// The issuer the user's identities trust: the spec's, else the cluster's.
pub async fn issuer(ctx: &Context, spec: &WorkloadIdentitySpec) -> Result<String, Error> {
    match &spec.issuer {
        Some(issuer) => Ok(issuer.clone()),
        None => ctx.cluster_issuer().await,
    }
}

impl SnowflakeServiceUser {
    /// The Snowflake workload identities `spec.workloadIdentity` asks for, trusting
    /// `issuer`: one per service account, in the order listed.
    pub fn desired_identities(&self, issuer: &str) -> Vec<WorkloadIdentity> {
        let namespace = self.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) = &self.spec.workload_identity else {
            return Vec::new();
        };
        spec.service_accounts
            .iter()
            .map(|account| WorkloadIdentity {
                name: crate::api::workload_identity::identity_name(account),
                issuer: issuer.to_owned(),
                subject: crate::api::workload_identity::subject(namespace, account),
                audiences: spec.audiences.clone(),
            })
            .collect()
    }
}

/// The ConfigMap's data: the settings as `SNOWFLAKE_*` environment variables (for
/// `envFrom`; the Snowflake CLI reads these with `--temporary-connection`) and as the
/// `[default]` connection of a `connections.toml` (the Python connector's
/// `connection_name="default"`, the Snowflake CLI's `--connection default`).
pub fn consumer_settings(
    account: &Account,
    account_identifier: &str,
    user: &str,
    spec: &WorkloadIdentitySpec,
    default_role: Option<&str>,
    default_warehouse: Option<&str>,
) -> BTreeMap<String, String> {
    let url = account.base_url();
    let mut settings: Vec<(&str, String)> = vec![
        ("account", account_identifier.to_owned()),
        ("host", url.host_str().unwrap_or_default().to_owned()),
        ("user", user.to_owned()),
        ("authenticator", "WORKLOAD_IDENTITY".to_owned()),
        ("workload_identity_provider", "OIDC".to_owned()),
        ("token_file_path", spec.token_path().to_owned()),
    ];
    if url.scheme() != "https" {
        settings.push(("protocol", url.scheme().to_owned()));
    }
    if let Some(port) = url.port() {
        settings.push(("port", port.to_string()));
    }
    if let Some(role) = default_role {
        settings.push(("role", role.to_owned()));
    }
    if let Some(warehouse) = default_warehouse {
        settings.push(("warehouse", warehouse.to_owned()));
    }
    let mut data: BTreeMap<String, String> = settings
        .iter()
        .map(|(key, value)| {
            (
                format!("SNOWFLAKE_{}", key.to_ascii_uppercase()),
                value.clone(),
            )
        })
        .collect();
    let mut toml = String::from("[default]\n");
    for (key, value) in &settings {
        let value = match *key {
            "port" => value.clone(),
            _ => toml_string(value),
        };
        toml.push_str(&format!("{key} = {value}\n"));
    }
    data.insert("connections.toml".to_owned(), toml);
    data
}

/// A TOML basic string (the values are identifiers, host names and paths, but quote
/// whatever they hold).
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes (server-side apply) the ConfigMap `name` with `data`, owned by `user` so that
/// Kubernetes deletes it with the resource. A ConfigMap of that name that the operator
/// did not write for this resource is left alone and reported.
pub async fn write_config_map(
    ctx: &Context,
    user: &SnowflakeServiceUser,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<(), Error> {
    let namespace = user.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = api.get_opt(name).await.map_err(|source| Error::Kube {
        what: format!("reading ConfigMap {name}"),
        source,
    })?;
    if let Some(existing) = &existing {
        if !written_for(existing, user) {
            return Err(Error::ConfigMapConflict(format!(
                "ConfigMap {name} exists and was not written by the operator for this \
                 SnowflakeServiceUser; delete it or set spec.workloadIdentity.configMap.name \
                 to another name"
            )));
        }
        if existing.data.as_ref() == Some(&data) {
            return Ok(());
        }
    }
    let owner = user.controller_owner_ref(&()).map(|owner| OwnerReference {
        block_owner_deletion: None,
        ..owner
    });
    let desired = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                (
                    SERVICE_USER_LABEL.to_owned(),
                    user.metadata.name.clone().unwrap_or_default(),
                ),
            ])),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    };
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map_err(|source| Error::Kube {
        what: format!("writing ConfigMap {name}"),
        source,
    })?;
    Ok(())
}

/// Whether the operator wrote `config_map` for `user` (it names the resource as owner).
fn written_for(config_map: &ConfigMap, user: &SnowflakeServiceUser) -> bool {
    config_map
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(&o.uid) == user.metadata.uid.as_ref())
}

/// Deletes the ConfigMap `name` if it is the one the operator wrote for `user`.
pub async fn remove_config_map(
    ctx: &Context,
    user: &SnowflakeServiceUser,
    name: &str,
) -> Result<(), Error> {
    let namespace = user.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_error = |source| Error::Kube {
        what: format!("deleting ConfigMap {name}"),
        source,
    };
    let Some(existing) = api.get_opt(name).await.map_err(kube_error)? else {
        return Ok(());
    };
    if written_for(&existing, user) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(kube_error(e)),
        }
    }
    Ok(())
}

/// The account and identifier of a connection, as the consumers connect.
pub fn connection_account(conn: &SnowflakeConnection) -> Result<Account, Error> {
    conn.spec.snowflake_account().map_err(|e| {
        Error::InvalidSpec(format!(
            "connection {}: {e}",
            conn.metadata.name.as_deref().unwrap_or_default()
        ))
    })
}
