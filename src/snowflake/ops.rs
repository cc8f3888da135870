//! The typed operations controllers use, behind [`SnowflakeApi`] so reconcilers can be
//! tested with a fake.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use secrecy::SecretString;

use super::account::Account;
use super::clock::Clock;
use super::error::{Category, Error, Result};
use super::jwt::JwtSigner;
use super::keys::PrivateKey;
use super::resultset::ResultSet;
use super::sql::{self, AddPatOptions, UnsetProperty, UserProperty};
use super::sqlapi::{SqlApiClient, SqlApiConfig};
use super::types::{
    AddPatRequest, DesiredUser, Identity, KeySlot, ListedIdentity, MANAGED_IDENTITY_PREFIX, NewPat,
    PatInfo, PublicKeys, RotatedPat, UserChanges, WorkloadIdentity,
};

/// What the operator asks of Snowflake.
pub trait SnowflakeApi: Send + Sync {
    /// `SELECT CURRENT_USER(), CURRENT_ROLE()`: proves the credentials work.
    fn verify_identity(&self) -> impl Future<Output = Result<Identity>> + Send;

    /// Creates the service user if missing, sets and unsets properties to match, grants
    /// missing roles and revokes roles in `previously_managed_roles` that are no longer
    /// desired (grants the operator never made are left alone), and converges the
    /// operator's workload identities (see [`DesiredUser::workload_identities`]).
    fn converge_service_user(
        &self,
        desired: &DesiredUser,
        previously_managed_roles: &[String],
    ) -> impl Future<Output = Result<UserChanges>> + Send;

    /// `DROP USER IF EXISTS`: a missing user counts as dropped.
    fn drop_user(&self, user: &str) -> impl Future<Output = Result<()>> + Send;

    /// Adds a token and returns its secret (shown once).
    fn add_pat(
        &self,
        user: &str,
        spec: &AddPatRequest,
    ) -> impl Future<Output = Result<NewPat>> + Send;

    /// Rotates a token; the old secret stays valid for `expire_rotated_after_hours`.
    fn rotate_pat(
        &self,
        user: &str,
        name: &str,
        expire_rotated_after_hours: u32,
    ) -> impl Future<Output = Result<RotatedPat>> + Send;

    /// Removes a token; a missing token or user counts as removed.
    fn remove_pat(&self, user: &str, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Removes a token and the `<NAME>_ROTATED_<ms>` tokens still holding its earlier
    /// values (valid until their grace period ends, and counted toward the 15-token cap),
    /// so that revoking a credential leaves no value of it usable. Returns the names
    /// removed; a missing token or user counts as removed.
    fn remove_pat_and_rotated(
        &self,
        user: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Enables or disables a token.
    fn set_pat_disabled(
        &self,
        user: &str,
        name: &str,
        disabled: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Lists a user's tokens (never secrets).
    fn list_pats(&self, user: &str) -> impl Future<Output = Result<Vec<PatInfo>>> + Send;

    /// The fingerprints of the public keys registered on a user (`DESC USER`); a missing
    /// user is an error.
    fn public_keys(&self, user: &str) -> impl Future<Output = Result<PublicKeys>> + Send;

    /// Registers a public key (base64 DER SubjectPublicKeyInfo) in `slot`, replacing what
    /// the slot held.
    fn set_public_key(
        &self,
        user: &str,
        slot: KeySlot,
        public_key_base64: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Unsets `slot`; an empty slot stays empty.
    fn unset_public_key(
        &self,
        user: &str,
        slot: KeySlot,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// [`SnowflakeApi`] over the SQL API.
#[derive(Debug)]
pub struct SnowflakeClient {
    api: SqlApiClient,
}

impl SnowflakeClient {
    /// Wraps a configured SQL API client.
    pub fn new(api: SqlApiClient) -> Self {
        Self { api }
    }

    /// A client authenticating as `user` with a key pair.
    pub fn with_key_pair(
        account: Account,
        user: &str,
        key: &PrivateKey,
        config: SqlApiConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let signer = JwtSigner::new(&account, user, key, clock)?;
        Ok(Self::new(SqlApiClient::new(
            account,
            Arc::new(signer),
            config,
        )?))
    }

    /// The underlying transport.
    pub fn sql_api(&self) -> &SqlApiClient {
        &self.api
    }

    async fn desc_user(&self, user: &str) -> Result<Option<BTreeMap<String, Option<String>>>> {
        match self.api.execute(&sql::desc_user(user)?).await {
            Ok(rs) => Ok(Some(properties(&rs))),
            Err(e) if e.category() == Category::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS FOR USER`.
    async fn workload_identities(&self, user: &str) -> Result<Vec<ListedIdentity>> {
        let rs = self
            .api
            .execute(&sql::show_workload_identities(user)?)
            .await?;
        rs.rows()
            .map(|row| {
                let name = row.require("name")?.to_owned();
                let identity_type = row.get("type").unwrap_or_default().to_ascii_uppercase();
                let oidc = if identity_type == "OIDC" {
                    Some(WorkloadIdentity::from_additional_info(
                        &name,
                        row.get("additional_info"),
                    )?)
                } else {
                    None
                };
                Ok(ListedIdentity {
                    name,
                    identity_type,
                    oidc,
                })
            })
            .collect()
    }

    /// Adds the desired identities that are missing, replaces (removes and adds again:
    /// issuer, subject and audiences cannot be modified) those that differ, then removes
    /// the operator's identities that are no longer desired.
    async fn converge_identities(
        &self,
        user: &str,
        desired: &[WorkloadIdentity],
        created: bool,
        changes: &mut UserChanges,
    ) -> Result<()> {
        let listed = if created {
            Vec::new()
        } else {
            self.workload_identities(user).await?
        };
        let ours: Vec<&ListedIdentity> = listed
            .iter()
            .filter(|l| l.name.starts_with(MANAGED_IDENTITY_PREFIX))
            .collect();
        if desired.is_empty() && ours.is_empty() {
            return Ok(());
        }
        for want in desired {
            match ours.iter().find(|l| l.name == want.name) {
                Some(l) if l.oidc.as_ref().is_some_and(|o| o.same_trust(want)) => continue,
                Some(_) => {
                    self.api
                        .execute(&sql::remove_workload_identity(user, &want.name)?)
                        .await?;
                }
                None => {}
            }
            self.api
                .execute(&sql::add_workload_identity(user, want)?)
                .await?;
            changes.identities_added.push(want.name.clone());
        }
        for stale in ours {
            if !desired.iter().any(|w| w.name == stale.name) {
                match self
                    .api
                    .execute(&sql::remove_workload_identity(user, &stale.name)?)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.category() == Category::NotFound => {}
                    Err(e) => return Err(e),
                }
                changes.identities_removed.push(stale.name.clone());
            }
        }
        Ok(())
    }

    async fn granted_roles(&self, user: &str) -> Result<BTreeSet<String>> {
        let rs = self.api.execute(&sql::show_grants_to_user(user)?).await?;
        rs.rows()
            .map(|r| r.require("role").map(str::to_owned))
            .collect()
    }
}

/// An `expires_at` column in an ADD or ROTATE answer, should Snowflake add one (it is not
/// documented): read if present, an error if present and unreadable.
fn answered_expiry(row: &super::resultset::Row<'_>) -> Result<Option<jiff::Timestamp>> {
    match row.get("expires_at").map(str::trim) {
        None | Some("") => Ok(None),
        Some(cell) if cell.eq_ignore_ascii_case("null") => Ok(None),
        Some(cell) => super::types::parse_timestamp(cell)
            .map(Some)
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "the expires_at column of the answer is not a timestamp: {cell:?}"
                ))
            }),
    }
}

/// `DESC USER` as property → value, with Snowflake's `null` text read as unset.
///
/// Values are kept verbatim: a comment may begin or end with whitespace, and trimming it
/// would make it differ from the desired comment on every reconcile.
fn properties(rs: &ResultSet) -> BTreeMap<String, Option<String>> {
    rs.rows()
        .filter_map(|r| {
            let name = r.get("property")?.to_ascii_uppercase();
            let value = r.get("value").filter(|v| *v != "null").map(str::to_owned);
            Some((name, value))
        })
        .collect()
}

/// Compares identifier-like values, ignoring double quotes Snowflake may print.
fn same_ident(current: Option<&String>, desired: &str) -> bool {
    current.is_some_and(|c| c.replace('"', "") == desired.replace('"', ""))
}

/// An identifier-valued property: desired value, DESC USER name, setter, unsetter.
type IdentProperty<'a> = (
    &'a Option<String>,
    &'static str,
    fn(String) -> UserProperty,
    UnsetProperty,
);

/// The SET and UNSET a user needs to go from `current` (DESC USER) to `desired`.
fn property_diff(
    desired: &DesiredUser,
    current: &BTreeMap<String, Option<String>>,
) -> (Vec<UserProperty>, Vec<UnsetProperty>) {
    let mut set = Vec::new();
    let mut unset = Vec::new();
    let get = |name: &str| current.get(name).and_then(Option::as_ref);
    let idents: [IdentProperty<'_>; 4] = [
        (
            &desired.default_role,
            "DEFAULT_ROLE",
            UserProperty::DefaultRole,
            UnsetProperty::DefaultRole,
        ),
        (
            &desired.default_warehouse,
            "DEFAULT_WAREHOUSE",
            UserProperty::DefaultWarehouse,
            UnsetProperty::DefaultWarehouse,
        ),
        (
            &desired.default_namespace,
            "DEFAULT_NAMESPACE",
            UserProperty::DefaultNamespace,
            UnsetProperty::DefaultNamespace,
        ),
        (
            &desired.network_policy,
            "NETWORK_POLICY",
            UserProperty::NetworkPolicy,
            UnsetProperty::NetworkPolicy,
        ),
    ];
    for (want, name, make, clear) in idents {
        match want {
            Some(v) if !same_ident(get(name), v) => set.push(make(v.clone())),
            None if get(name).is_some() => unset.push(clear),
            _ => {}
        }
    }
    match &desired.comment {
        Some(c) if get("COMMENT") != Some(c) => set.push(UserProperty::Comment(c.clone())),
        None if get("COMMENT").is_some() => unset.push(UnsetProperty::Comment),
        _ => {}
    }
    let disabled = get("DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if disabled != desired.disabled {
        set.push(UserProperty::Disabled(desired.disabled));
    }
    (set, unset)
}

/// Every property of `desired` that has a value, for CREATE USER.
fn create_properties(desired: &DesiredUser) -> Vec<UserProperty> {
    let mut props = Vec::new();
    if let Some(v) = &desired.default_role {
        props.push(UserProperty::DefaultRole(v.clone()));
    }
    if let Some(v) = &desired.default_warehouse {
        props.push(UserProperty::DefaultWarehouse(v.clone()));
    }
    if let Some(v) = &desired.default_namespace {
        props.push(UserProperty::DefaultNamespace(v.clone()));
    }
    if let Some(v) = &desired.comment {
        props.push(UserProperty::Comment(v.clone()));
    }
    if let Some(v) = &desired.network_policy {
        props.push(UserProperty::NetworkPolicy(v.clone()));
    }
    props.push(UserProperty::Disabled(desired.disabled));
    props
}

fn secret_of(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

impl SnowflakeApi for SnowflakeClient {
    async fn verify_identity(&self) -> Result<Identity> {
        let rs = self.api.execute(&sql::select_identity()).await?;
        let row = rs.first_row("SELECT CURRENT_USER()")?;
        let user = row
            .at(0)
            .ok_or_else(|| Error::Protocol("CURRENT_USER() returned NULL".into()))?;
        Ok(Identity {
            user: user.to_owned(),
            role: row.at(1).map(str::to_owned),
        })
    }

    async fn converge_service_user(
        &self,
        desired: &DesiredUser,
        previously_managed_roles: &[String],
    ) -> Result<UserChanges> {
        let user = desired.name.as_str();
        let mut changes = UserChanges::default();
        let granted = match self.desc_user(user).await? {
            None => {
                let props = create_properties(desired);
                self.api
                    .execute(&sql::create_service_user(user, &props)?)
                    .await?;
                changes.created = true;
                changes.properties_set = props.iter().map(UserProperty::name).collect();
                BTreeSet::new()
            }
            Some(current) => {
                // An absent TYPE (older accounts, other tools) is tolerated; a PERSON or
                // legacy user of the same name is someone else's and is never adopted.
                if let Some(Some(user_type)) = current.get("TYPE")
                    && !user_type.eq_ignore_ascii_case("SERVICE")
                {
                    return Err(Error::NotAServiceUser {
                        user: user.to_owned(),
                        user_type: user_type.clone(),
                    });
                }
                let (set, unset) = property_diff(desired, &current);
                if !set.is_empty() {
                    self.api.execute(&sql::alter_user_set(user, &set)?).await?;
                    changes.properties_set = set.iter().map(UserProperty::name).collect();
                }
                if !unset.is_empty() {
                    self.api
                        .execute(&sql::alter_user_unset(user, &unset)?)
                        .await?;
                    changes.properties_unset = unset.iter().map(|p| p.name()).collect();
                }
                self.granted_roles(user).await?
            }
        };
        let desired_roles: BTreeSet<&String> = desired.roles.iter().collect();
        for role in &desired_roles {
            if !granted.contains(*role) {
                self.api.execute(&sql::grant_role(role, user)?).await?;
                changes.roles_granted.push((*role).clone());
            }
        }
        let managed: BTreeSet<&String> = previously_managed_roles.iter().collect();
        for role in managed {
            if !desired_roles.contains(role) && granted.contains(role) {
                self.api.execute(&sql::revoke_role(role, user)?).await?;
                changes.roles_revoked.push(role.clone());
            }
        }
        if desired.manage_workload_identities || !desired.workload_identities.is_empty() {
            let created = changes.created;
            self.converge_identities(user, &desired.workload_identities, created, &mut changes)
                .await?;
        }
        Ok(changes)
    }

    async fn drop_user(&self, user: &str) -> Result<()> {
        self.api.execute(&sql::drop_user(user)?).await.map(drop)
    }

    async fn add_pat(&self, user: &str, spec: &AddPatRequest) -> Result<NewPat> {
        let name = sql::normalize_pat_name(&spec.name)?;
        let statement = sql::add_pat(
            user,
            &name,
            &AddPatOptions {
                role_restriction: spec.role_restriction.as_deref(),
                days_to_expiry: spec.days_to_expiry,
                mins_to_bypass_network_policy_requirement: spec
                    .mins_to_bypass_network_policy_requirement,
                comment: spec.comment.as_deref(),
            },
        )?;
        let rs = self.api.execute(&statement).await?;
        let row = rs.first_row("ADD PROGRAMMATIC ACCESS TOKEN")?;
        let secret = secret_of(row.require("token_secret")?);
        let name = row.get("token_name").unwrap_or(&name).to_owned();
        let expires_at = answered_expiry(&row)?;
        Ok(NewPat {
            name,
            secret,
            expires_at,
        })
    }

    async fn rotate_pat(
        &self,
        user: &str,
        name: &str,
        expire_rotated_after_hours: u32,
    ) -> Result<RotatedPat> {
        let name = sql::normalize_pat_name(name)?;
        let statement = sql::rotate_pat(user, &name, expire_rotated_after_hours)?;
        let rs = self.api.execute(&statement).await?;
        let row = rs.first_row("ROTATE PROGRAMMATIC ACCESS TOKEN")?;
        let secret = secret_of(row.require("token_secret")?);
        let rotated_token_name = row.require("rotated_token_name")?.to_owned();
        let name = row.get("token_name").unwrap_or(&name).to_owned();
        let expires_at = answered_expiry(&row)?;
        Ok(RotatedPat {
            rotated_at: super::types::rotated_out_at(&name, &rotated_token_name),
            name,
            secret,
            rotated_token_name,
            expires_at,
        })
    }

    async fn remove_pat(&self, user: &str, name: &str) -> Result<()> {
        let name = sql::normalize_pat_name(name)?;
        match self.api.execute(&sql::remove_pat(user, &name)?).await {
            Ok(_) => Ok(()),
            Err(e) if e.category() == Category::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn remove_pat_and_rotated(&self, user: &str, name: &str) -> Result<Vec<String>> {
        let name = sql::normalize_pat_name(name)?;
        let listed = match self.list_pats(user).await {
            Ok(pats) => pats,
            Err(e) if e.category() == Category::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let rotated_prefix = format!("{name}_ROTATED_");
        let mut removed = Vec::new();
        // The current value first: it is the one consumers hold.
        if listed.iter().any(|p| p.name.eq_ignore_ascii_case(&name)) {
            self.remove_pat(user, &name).await?;
            removed.push(name.clone());
        }
        for pat in &listed {
            let companion = pat
                .rotated_to
                .as_deref()
                .is_some_and(|to| to.eq_ignore_ascii_case(&name))
                || pat.name.to_ascii_uppercase().starts_with(&rotated_prefix);
            if companion && !pat.name.eq_ignore_ascii_case(&name) {
                // Rotated names are `<NAME>_ROTATED_<digits>`: valid PAT names.
                self.remove_pat(user, &pat.name).await?;
                removed.push(pat.name.clone());
            }
        }
        Ok(removed)
    }

    async fn set_pat_disabled(&self, user: &str, name: &str, disabled: bool) -> Result<()> {
        let name = sql::normalize_pat_name(name)?;
        self.api
            .execute(&sql::set_pat_disabled(user, &name, disabled)?)
            .await
            .map(drop)
    }

    async fn public_keys(&self, user: &str) -> Result<PublicKeys> {
        let rs = self.api.execute(&sql::desc_user(user)?).await?;
        let mut props = properties(&rs);
        let mut take = |name: &str| props.remove(name).flatten().filter(|v| !v.is_empty());
        Ok(PublicKeys {
            first: take("RSA_PUBLIC_KEY_FP"),
            second: take("RSA_PUBLIC_KEY_2_FP"),
        })
    }

    async fn set_public_key(
        &self,
        user: &str,
        slot: KeySlot,
        public_key_base64: &str,
    ) -> Result<()> {
        let key = public_key_base64.to_owned();
        let property = match slot {
            KeySlot::First => UserProperty::RsaPublicKey(key),
            KeySlot::Second => UserProperty::RsaPublicKey2(key),
        };
        self.api
            .execute(&sql::alter_user_set(user, &[property])?)
            .await
            .map(drop)
    }

    async fn unset_public_key(&self, user: &str, slot: KeySlot) -> Result<()> {
        let property = match slot {
            KeySlot::First => UnsetProperty::RsaPublicKey,
            KeySlot::Second => UnsetProperty::RsaPublicKey2,
        };
        self.api
            .execute(&sql::alter_user_unset(user, &[property])?)
            .await
            .map(drop)
    }

    async fn list_pats(&self, user: &str) -> Result<Vec<PatInfo>> {
        let rs = self.api.execute(&sql::show_pats(user)?).await?;
        rs.rows().map(|r| PatInfo::from_row(&r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn property_diff_sets_what_differs_and_unsets_what_is_no_longer_wanted() {
        let desired = DesiredUser {
            name: "BI_SVC".into(),
            default_role: Some("ANALYST".into()),
            default_namespace: Some("DB.PUBLIC".into()),
            comment: Some("managed".into()),
            disabled: false,
            ..Default::default()
        };
        let now = current(&[
            ("DEFAULT_ROLE", Some("ANALYST")),
            ("DEFAULT_NAMESPACE", Some("\"DB\".\"PUBLIC\"")),
            ("DEFAULT_WAREHOUSE", Some("WH")),
            ("COMMENT", Some("old")),
            ("NETWORK_POLICY", None),
            ("DISABLED", Some("true")),
        ]);
        let (set, unset) = property_diff(&desired, &now);
        assert_eq!(
            set,
            vec![
                UserProperty::Comment("managed".into()),
                UserProperty::Disabled(false)
            ]
        );
        assert_eq!(unset, vec![UnsetProperty::DefaultWarehouse]);

        let converged = current(&[
            ("DEFAULT_ROLE", Some("ANALYST")),
            ("DEFAULT_NAMESPACE", Some("DB.PUBLIC")),
            ("COMMENT", Some("managed")),
            ("DISABLED", Some("false")),
        ]);
        assert_eq!(property_diff(&desired, &converged), (vec![], vec![]));
    }

    #[test]
    fn desc_values_are_read_verbatim() {
        let rs = ResultSet::new(
            ["property", "value"]
                .map(|name| crate::snowflake::resultset::Column {
                    name: name.into(),
                    type_name: "text".into(),
                })
                .to_vec(),
            vec![
                vec![Some("COMMENT".into()), Some("  padded\n".into())],
                vec![Some("DEFAULT_ROLE".into()), Some("null".into())],
                vec![Some("DEFAULT_WAREHOUSE".into()), None],
            ],
        );
        let props = properties(&rs);
        assert_eq!(props["COMMENT"].as_deref(), Some("  padded\n"));
        assert_eq!(props["DEFAULT_ROLE"], None);
        assert_eq!(props["DEFAULT_WAREHOUSE"], None);
        let desired = DesiredUser {
            name: "U".into(),
            comment: Some("  padded\n".into()),
            ..Default::default()
        };
        assert_eq!(property_diff(&desired, &props), (vec![], vec![]));
    }

    #[test]
    fn create_carries_every_set_property() {
        let desired = DesiredUser {
            name: "U".into(),
            network_policy: Some("NP".into()),
            ..Default::default()
        };
        assert_eq!(
            create_properties(&desired),
            vec![
                UserProperty::NetworkPolicy("NP".into()),
                UserProperty::Disabled(false)
            ]
        );
    }
}
