//! The account's in-memory state: users, grants, key slots and PATs. PAT secrets are
//! kept only as SHA-256 hashes; nothing here can reveal one.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::config::{ConfigError, EmulatorConfig, NetworkPolicyEvaluation, PatPolicy, UserType};
use super::keys::PublicKeySlot;

/// The role every user has.
pub const PUBLIC_ROLE: &str = "PUBLIC";

/// Everything an emulated account holds.
#[derive(Debug, Clone)]
pub struct AccountState {
    pub account_name: String,
    pub locator: Option<String>,
    pub roles: BTreeSet<String>,
    pub admin_roles: BTreeSet<String>,
    /// Network policy name → allowed IP list.
    pub network_policies: BTreeMap<String, Vec<String>>,
    pub account_network_policy: Option<String>,
    pub users: BTreeMap<String, User>,
    pub pat_policy: PatPolicy,
}

/// A user and everything attached to it.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub user_type: UserType,
    pub login_name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub comment: Option<String>,
    pub default_role: Option<String>,
    pub default_warehouse: Option<String>,
    pub default_namespace: Option<String>,
    pub default_secondary_roles: Option<String>,
    pub network_policy: Option<String>,
    pub disabled: bool,
    pub days_to_expiry: Option<String>,
    pub mins_to_unlock: Option<String>,
    /// Key slots 1 and 2.
    pub keys: [Option<PublicKeySlot>; 2],
    /// Granted role → grant time and grantor.
    pub grants: BTreeMap<String, Grant>,
    pub pats: Vec<Pat>,
    /// Workload identities (docs/workload-identity-research.md): the `DEFAULT` one set by the
    /// `WORKLOAD_IDENTITY` property first, then the named ones in the order added.
    pub workload_identities: Vec<WorkloadIdentity>,
    pub created_on: Timestamp,
}

/// The name of the identity the `WORKLOAD_IDENTITY` property sets; reserved, so `ADD`,
/// `MODIFY` and `REMOVE WORKLOAD IDENTITY` cannot name it.
pub const DEFAULT_WORKLOAD_IDENTITY: &str = "DEFAULT";

/// The audience a token must carry when an identity lists none.
pub const DEFAULT_OIDC_AUDIENCE: &str = "snowflakecomputing.com";

/// One `TYPE = OIDC` workload identity of a user: tokens of `issuer` whose `sub` is
/// `subject` log in as the user. The emulator models only the OIDC type (the one a
/// Kubernetes service-account token uses); AWS, AZURE and GCP are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadIdentity {
    pub name: String,
    pub issuer: String,
    pub subject: String,
    /// `OIDC_AUDIENCE_LIST`; empty when omitted, which means [`DEFAULT_OIDC_AUDIENCE`]
    /// (and is shown as `[]`, as Snowflake shows it).
    pub audiences: Vec<String>,
    /// `MODIFY … SET DISABLED = TRUE`: no new logins, metadata kept.
    pub disabled: bool,
    pub comment: Option<String>,
    pub created_on: Timestamp,
    pub last_used: Option<Timestamp>,
}

impl WorkloadIdentity {
    /// The audiences a token may carry (at least one of them).
    pub fn accepted_audiences(&self) -> Vec<String> {
        if self.audiences.is_empty() {
            vec![DEFAULT_OIDC_AUDIENCE.to_owned()]
        } else {
            self.audiences.clone()
        }
    }
}

/// A role grant to a user.
#[derive(Debug, Clone)]
pub struct Grant {
    pub granted_on: Timestamp,
    pub granted_by: String,
}

/// A programmatic access token (current secret or a `_ROTATED_` predecessor).
#[derive(Debug, Clone)]
pub struct Pat {
    pub name: String,
    pub role_restriction: Option<String>,
    pub expires_at: Timestamp,
    /// The lifetime chosen at creation, reused by `ROTATE`.
    pub days_to_expiry: u32,
    pub disabled: bool,
    pub comment: Option<String>,
    pub created_on: Timestamp,
    pub created_by: String,
    pub mins_to_bypass_network_policy_requirement: u32,
    /// End of the network-policy bypass window, if one was granted.
    pub bypass_until: Option<Timestamp>,
    /// For `_ROTATED_` tokens: the name of the token that replaced it.
    pub rotated_to: Option<String>,
    pub secret_sha256: String,
}

/// `SHOW USER PATS` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatStatus {
    Active,
    Expired,
    Disabled,
}

impl PatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PatStatus::Active => "ACTIVE",
            PatStatus::Expired => "EXPIRED",
            PatStatus::Disabled => "DISABLED",
        }
    }
}

impl Pat {
    /// Status at `now`: disabled wins over expired, as Snowflake lists it.
    pub fn status(&self, now: Timestamp) -> PatStatus {
        if self.disabled {
            PatStatus::Disabled
        } else if now >= self.expires_at {
            PatStatus::Expired
        } else {
            PatStatus::Active
        }
    }

    /// Counts toward the per-user cap: disabled tokens count, expired ones don't.
    pub fn counts_toward_limit(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

impl User {
    /// A new user with Snowflake's defaults.
    pub fn new(name: &str, now: Timestamp) -> Self {
        Self {
            name: name.to_owned(),
            user_type: UserType::Person,
            login_name: name.to_owned(),
            display_name: name.to_owned(),
            email: None,
            comment: None,
            default_role: None,
            default_warehouse: None,
            default_namespace: None,
            default_secondary_roles: None,
            network_policy: None,
            disabled: false,
            days_to_expiry: None,
            mins_to_unlock: None,
            keys: [None, None],
            grants: BTreeMap::new(),
            pats: Vec::new(),
            workload_identities: Vec::new(),
            created_on: now,
        }
    }

    /// True when the user holds `role` (PUBLIC is implicit).
    pub fn has_role(&self, role: &str) -> bool {
        role == PUBLIC_ROLE || self.grants.contains_key(role)
    }

    pub fn pat(&self, name: &str) -> Option<&Pat> {
        self.pats.iter().find(|p| p.name == name)
    }

    pub fn pat_mut(&mut self, name: &str) -> Option<&mut Pat> {
        self.pats.iter_mut().find(|p| p.name == name)
    }

    pub fn workload_identity(&self, name: &str) -> Option<&WorkloadIdentity> {
        self.workload_identities.iter().find(|w| w.name == name)
    }
}

impl AccountState {
    /// Builds the state from a seed; keys are validated here so a bad seed fails at start.
    pub fn from_config(config: &EmulatorConfig, now: Timestamp) -> Result<Self, ConfigError> {
        let mut roles: BTreeSet<String> = config.roles.iter().cloned().collect();
        roles.insert(PUBLIC_ROLE.to_owned());
        roles.extend(config.admin_roles.iter().cloned());
        let network_policies: BTreeMap<String, Vec<String>> = config
            .network_policies
            .iter()
            .map(|np| (np.name.clone(), np.allowed_ip_list.clone()))
            .collect();
        if let Some(np) = &config.account_network_policy
            && !network_policies.contains_key(np)
        {
            return Err(ConfigError::Invalid(format!(
                "accountNetworkPolicy {np} is not among networkPolicies"
            )));
        }
        let mut users = BTreeMap::new();
        for seed in &config.users {
            let mut user = User::new(&seed.name, now);
            user.user_type = seed.user_type;
            user.default_role = seed.default_role.clone();
            user.default_warehouse = seed.default_warehouse.clone();
            user.default_namespace = seed.default_namespace.clone();
            user.disabled = seed.disabled;
            user.comment = seed.comment.clone();
            user.network_policy = seed.network_policy.clone();
            if let Some(np) = &seed.network_policy
                && !network_policies.contains_key(np)
            {
                return Err(ConfigError::Invalid(format!(
                    "user {}: unknown network policy {np}",
                    seed.name
                )));
            }
            for (slot, text) in [&seed.rsa_public_key, &seed.rsa_public_key_2]
                .into_iter()
                .enumerate()
            {
                if let Some(text) = text {
                    let key = PublicKeySlot::parse(text, now)
                        .map_err(|e| ConfigError::Invalid(format!("user {}: {e}", seed.name)))?;
                    user.keys[slot] = Some(key);
                }
            }
            for role in &seed.roles {
                if !roles.contains(role) {
                    return Err(ConfigError::Invalid(format!(
                        "user {}: role {role} is not among roles",
                        seed.name
                    )));
                }
                user.grants.insert(
                    role.clone(),
                    Grant {
                        granted_on: now,
                        granted_by: "SECURITYADMIN".into(),
                    },
                );
            }
            users.insert(seed.name.clone(), user);
        }
        Ok(Self {
            account_name: config.account.name.clone(),
            locator: config.account.locator.clone(),
            roles,
            admin_roles: config.admin_roles.iter().cloned().collect(),
            network_policies,
            account_network_policy: config.account_network_policy.clone(),
            users,
            pat_policy: config.pat_policy.clone(),
        })
    }

    /// What `CURRENT_ACCOUNT()` returns: the locator (without region or cloud) if
    /// configured, else the account name.
    pub fn current_account(&self) -> &str {
        self.short_locator().unwrap_or(&self.account_name)
    }

    /// The locator cut at its first `.` (`xy12345.us-east-2.aws` → `xy12345`).
    pub fn short_locator(&self) -> Option<&str> {
        self.locator
            .as_deref()
            .and_then(|locator| locator.split('.').next())
    }

    /// True when the user is covered by a network policy (its own or the account's).
    pub fn user_has_network_policy(&self, user: &User) -> bool {
        user.network_policy.is_some() || self.account_network_policy.is_some()
    }

    /// The network-policy requirement to *use* a PAT at `now`.
    pub fn pat_use_allowed_by_network_rule(&self, user: &User, pat: &Pat, now: Timestamp) -> bool {
        match self.pat_policy.network_policy_evaluation {
            NetworkPolicyEvaluation::EnforcedRequired => {
                self.user_has_network_policy(user)
                    || (!user.user_type.is_service()
                        && pat.bypass_until.is_some_and(|until| now < until))
            }
            NetworkPolicyEvaluation::EnforcedNotRequired | NetworkPolicyEvaluation::NotEnforced => {
                true
            }
        }
    }

    /// Drops tokens that expired longer ago than the listing window.
    pub fn purge_expired_pats(&mut self, now: Timestamp) {
        let keep =
            SignedDuration::from_hours(i64::from(self.pat_policy.expired_tokens_listed_days) * 24);
        for user in self.users.values_mut() {
            user.pats
                .retain(|p| !matches!(p.expires_at.checked_add(keep), Ok(end) if now >= end));
        }
    }

    /// A view safe to hand to tests and the admin endpoint: names, hashes, timestamps.
    pub fn snapshot(&self, now: Timestamp) -> StateSnapshot {
        StateSnapshot {
            now,
            account: self.account_name.clone(),
            users: self
                .users
                .values()
                .map(|u| UserSnapshot {
                    name: u.name.clone(),
                    user_type: u.user_type.as_str().to_owned(),
                    disabled: u.disabled,
                    default_role: u.default_role.clone(),
                    default_warehouse: u.default_warehouse.clone(),
                    default_namespace: u.default_namespace.clone(),
                    network_policy: u.network_policy.clone(),
                    comment: u.comment.clone(),
                    roles: u.grants.keys().cloned().collect(),
                    key_fingerprints: u
                        .keys
                        .iter()
                        .map(|k| k.as_ref().map(|k| k.fingerprint.clone()))
                        .collect(),
                    pats: u
                        .pats
                        .iter()
                        .map(|p| PatSnapshot {
                            name: p.name.clone(),
                            status: p.status(now),
                            role_restriction: p.role_restriction.clone(),
                            expires_at: p.expires_at,
                            created_on: p.created_on,
                            rotated_to: p.rotated_to.clone(),
                            comment: p.comment.clone(),
                            secret_sha256: p.secret_sha256.clone(),
                        })
                        .collect(),
                    workload_identities: u
                        .workload_identities
                        .iter()
                        .map(|w| WorkloadIdentitySnapshot {
                            name: w.name.clone(),
                            issuer: w.issuer.clone(),
                            subject: w.subject.clone(),
                            audiences: w.audiences.clone(),
                            disabled: w.disabled,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The enabled identities of enabled or disabled users that trust `issuer`'s `subject`:
    /// `(user, identity)` pairs, so a login can tell "nobody trusts this" from "several do".
    pub fn workload_identities_trusting(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Vec<(&User, &WorkloadIdentity)> {
        self.users
            .values()
            .flat_map(|u| u.workload_identities.iter().map(move |w| (u, w)))
            .filter(|(_, w)| !w.disabled && w.issuer == issuer && w.subject == subject)
            .collect()
    }
}

/// Serializable state view (no secrets).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSnapshot {
    pub now: Timestamp,
    pub account: String,
    pub users: Vec<UserSnapshot>,
}

impl StateSnapshot {
    pub fn user(&self, name: &str) -> Option<&UserSnapshot> {
        self.users.iter().find(|u| u.name == name)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSnapshot {
    pub name: String,
    #[serde(rename = "type")]
    pub user_type: String,
    pub disabled: bool,
    pub default_role: Option<String>,
    pub default_warehouse: Option<String>,
    pub default_namespace: Option<String>,
    pub network_policy: Option<String>,
    pub comment: Option<String>,
    pub roles: Vec<String>,
    pub key_fingerprints: Vec<Option<String>>,
    pub pats: Vec<PatSnapshot>,
    pub workload_identities: Vec<WorkloadIdentitySnapshot>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentitySnapshot {
    pub name: String,
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatSnapshot {
    pub name: String,
    pub status: PatStatus,
    pub role_restriction: Option<String>,
    pub expires_at: Timestamp,
    pub created_on: Timestamp,
    pub rotated_to: Option<String>,
    pub comment: Option<String>,
    pub secret_sha256: String,
}
