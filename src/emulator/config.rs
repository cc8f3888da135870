//! The YAML seed of an emulated account: users (with their public keys and roles),
//! roles, network policies and the PAT policy knobs the reference marks as
//! UNCONFIRMED or policy-controlled, each with a documented default.

use std::path::Path;

use serde::Deserialize;

/// Errors reading or validating a seed file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read emulator config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid emulator config: {0}")]
    Parse(#[from] serde_saphyr::Error),
    #[error("invalid emulator config: {0}")]
    Invalid(String),
}

/// The whole seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmulatorConfig {
    pub account: AccountConfig,
    /// Roles that exist in the account besides `PUBLIC` (always present).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Roles whose sessions may create, alter and drop any user and manage any user's
    /// PATs (standing in for OWNERSHIP / MODIFY PROGRAMMATIC AUTHENTICATION METHODS).
    #[serde(default = "default_admin_roles")]
    pub admin_roles: Vec<String>,
    #[serde(default)]
    pub network_policies: Vec<NetworkPolicyConfig>,
    /// A network policy applied to the whole account; it satisfies the
    /// "covered by a network policy" requirement for every user.
    #[serde(default)]
    pub account_network_policy: Option<String>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub pat_policy: PatPolicy,
    /// The OAuth authorization server: security integrations and undocumented knobs
    /// (keys in snake_case, as in [`super::oauth::OAuthConfig`]).
    #[serde(default)]
    pub oauth: super::oauth::OAuthConfig,
    /// How SQL API results are split into partitions (`resultSetMetaData.partitionInfo`).
    #[serde(default)]
    pub result_partitions: ResultPartitions,
    /// Workload identity federation: the keys of private OIDC issuers.
    #[serde(default)]
    pub workload_identity: WorkloadIdentityConfig,
}

/// Workload identity federation settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadIdentityConfig {
    /// Issuers whose signing keys are given here instead of fetched from the issuer's
    /// `/.well-known/openid-configuration`: private issuers, such as a cluster's API server
    /// that serves its keys only to authenticated callers.
    #[serde(default)]
    pub issuers: Vec<TrustedIssuer>,
}

/// An OIDC issuer and its JSON Web Key Set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The issuer exactly as tokens carry it in `iss`.
    pub issuer: String,
    /// The key set, as the issuer serves it at its `jwks_uri` (`{"keys": [...]}`).
    pub jwks: jsonwebtoken::jwk::JwkSet,
}

fn default_admin_roles() -> Vec<String> {
    ["ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// Account identity: JWT `iss`/`sub` may use either the name or the locator.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountConfig {
    /// `ORG-ACCOUNT` form, returned by `CURRENT_ACCOUNT()`... see `locator`.
    pub name: String,
    /// Legacy locator (e.g. `XY12345`); `CURRENT_ACCOUNT()` returns it, as Snowflake does.
    #[serde(default)]
    pub locator: Option<String>,
}

/// A network policy; only its name and allowed IPs are modelled.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicyConfig {
    pub name: String,
    #[serde(default)]
    pub allowed_ip_list: Vec<String>,
}

/// `TYPE` of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserType {
    #[default]
    Person,
    Service,
    LegacyService,
    ServiceAgent,
}

impl UserType {
    /// The spelling `DESC USER` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Person => "PERSON",
            UserType::Service => "SERVICE",
            UserType::LegacyService => "LEGACY_SERVICE",
            UserType::ServiceAgent => "SERVICE_AGENT",
        }
    }

    /// SERVICE-like users get the stricter PAT rules (role restriction, network policy).
    pub fn is_service(self) -> bool {
        !matches!(self, UserType::Person)
    }
}

/// A seeded user.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    #[serde(default, rename = "type")]
    pub user_type: UserType,
    #[serde(default)]
    pub default_role: Option<String>,
    #[serde(default)]
    pub default_warehouse: Option<String>,
    #[serde(default)]
    pub default_namespace: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Key slot 1: base64 DER SubjectPublicKeyInfo, or a PEM `PUBLIC KEY` block.
    #[serde(default)]
    pub rsa_public_key: Option<String>,
    /// Key slot 2, same formats.
    #[serde(default)]
    pub rsa_public_key_2: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub network_policy: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `PAT_POLICY.NETWORK_POLICY_EVALUATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NetworkPolicyEvaluation {
    /// Snowflake's default: SERVICE users need a policy to generate and use a PAT,
    /// PERSON users need one (or a bypass window) to use it.
    #[default]
    EnforcedRequired,
    EnforcedNotRequired,
    NotEnforced,
}

/// What `ADD PAT IF NOT EXISTS` answers when the token already exists (UNCONFIRMED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AddIfNotExistsResult {
    /// One row `token_name`, `token_secret` with the secret NULL (nothing created).
    #[default]
    NullSecretRow,
    /// One `status` row saying the token already exists.
    StatusMessage,
}

/// PAT rules that are policy-controlled or UNCONFIRMED; defaults follow the reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PatPolicy {
    /// Default true (Snowflake's behaviour since 2025-11).
    pub require_role_restriction_for_service_users: bool,
    /// Default false.
    pub require_role_restriction_for_person_users: bool,
    pub network_policy_evaluation: NetworkPolicyEvaluation,
    /// Default 15 days.
    pub default_expiry_days: u32,
    /// Default 365 days.
    pub max_expiry_days: u32,
    /// Default 15 (disabled tokens count, expired ones don't).
    pub max_tokens_per_user: usize,
    /// How long expired tokens stay in `SHOW USER PATS`; default 7 days (UNCONFIRMED: 7 or 30).
    pub expired_tokens_listed_days: u32,
    /// Default `EXPIRE_ROTATED_TOKEN_AFTER_HOURS`: 24.
    pub default_rotated_token_grace_hours: u32,
    pub add_if_not_exists_result: AddIfNotExistsResult,
}

impl Default for PatPolicy {
    fn default() -> Self {
        Self {
            require_role_restriction_for_service_users: true,
            require_role_restriction_for_person_users: false,
            network_policy_evaluation: NetworkPolicyEvaluation::EnforcedRequired,
            default_expiry_days: 15,
            max_expiry_days: 365,
            max_tokens_per_user: 15,
            expired_tokens_listed_days: 7,
            default_rotated_token_grace_hours: 24,
            add_if_not_exists_result: AddIfNotExistsResult::NullSecretRow,
        }
    }
}

/// Default rows per result partition: far beyond any result the emulator produces, so
/// results come whole in partition 0, as Snowflake sends small results.
pub const DEFAULT_ROWS_PER_PARTITION: usize = 100_000;

/// Result partitioning of the SQL API. Snowflake cuts a large result into partitions by
/// size (megabytes each), sends partition 0 in the first answer and the others on
/// `GET /api/v2/statements/{handle}?partition=N`. The emulator's results are small, so
/// it cuts by row count instead, letting a test force several partitions (e.g. 12
/// tokens with 5 rows per partition make partitions of 5, 5 and 2 rows).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ResultPartitions {
    /// Rows per partition, at least 1; default [`DEFAULT_ROWS_PER_PARTITION`] (no splitting).
    pub rows_per_partition: usize,
    /// Whether partitions after 0 are gzip-compressed when the request sends
    /// `Accept-Encoding: gzip` (Snowflake's usual answer); default true. False serves
    /// them as plain JSON whatever the client accepts, so clients are tested on both.
    pub gzip: bool,
}

impl Default for ResultPartitions {
    fn default() -> Self {
        Self {
            rows_per_partition: DEFAULT_ROWS_PER_PARTITION,
            gzip: true,
        }
    }
}

impl EmulatorConfig {
    /// Reads and parses a YAML seed file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Parses a YAML seed.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: EmulatorConfig = serde_saphyr::from_str(text)?;
        if config.pat_policy.default_expiry_days == 0
            || config.pat_policy.default_expiry_days > config.pat_policy.max_expiry_days
        {
            return Err(ConfigError::Invalid(
                "patPolicy.defaultExpiryDays must be between 1 and maxExpiryDays".into(),
            ));
        }
        if config.result_partitions.rows_per_partition == 0 {
            return Err(ConfigError::Invalid(
                "resultPartitions.rowsPerPartition must be at least 1".into(),
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_seed_gets_documented_defaults() {
        let config = EmulatorConfig::from_yaml("account: {name: MYORG-ACCT}\n").unwrap();
        assert_eq!(config.pat_policy.max_tokens_per_user, 15);
        assert_eq!(config.pat_policy.default_expiry_days, 15);
        assert!(config.pat_policy.require_role_restriction_for_service_users);
        assert!(config.admin_roles.iter().any(|r| r == "USERADMIN"));
    }

    #[test]
    fn the_example_seed_has_the_oauth_integration_of_the_oauth_example() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/account.yaml");
        let config = EmulatorConfig::from_file(&path).expect("example seed");
        assert_eq!(config.oauth.integrations.len(), 1);
        let integration = &config.oauth.integrations[0];
        // examples/token-oauth.yaml's user, and `authorize`'s default redirect.
        assert_eq!(integration.auto_login_user.as_deref(), Some("TABLEAU_SVC"));
        assert_eq!(integration.redirect_uri, "http://127.0.0.1:8765/callback");
        assert!(config.users.iter().any(|u| u.name == "TABLEAU_SVC"));
    }

    #[test]
    fn results_are_not_split_unless_the_seed_asks() {
        let config = EmulatorConfig::from_yaml("account: {name: A}\n").unwrap();
        assert_eq!(config.result_partitions, ResultPartitions::default());
        let config = EmulatorConfig::from_yaml(
            "account: {name: A}\nresultPartitions: {rowsPerPartition: 5, gzip: false}\n",
        )
        .unwrap();
        assert_eq!(config.result_partitions.rows_per_partition, 5);
        assert!(!config.result_partitions.gzip);
        assert!(
            EmulatorConfig::from_yaml(
                "account: {name: A}\nresultPartitions: {rowsPerPartition: 0}\n"
            )
            .is_err()
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(EmulatorConfig::from_yaml("account: {name: A}\nuserz: []\n").is_err());
    }
}
