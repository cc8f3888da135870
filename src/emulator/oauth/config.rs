//! Seed configuration of the authorization server: the security integrations of
//! `CREATE SECURITY INTEGRATION … TYPE=OAUTH OAUTH_CLIENT=CUSTOM` (reference §6.1), as they
//! appear in the emulator's YAML file, plus the emulator-only knobs for behaviour that
//! Snowflake does not document (reference §9 item 7).

use std::collections::BTreeSet;

use serde::Deserialize;
use thiserror::Error;

use super::secret::Secret;

/// Roles Snowflake adds to every integration's `BLOCKED_ROLES_LIST` unless the account
/// parameter `OAUTH_ADD_PRIVILEGED_ROLES_TO_BLOCKED_LIST` is FALSE.
pub const PRIVILEGED_ROLES: [&str; 4] = [
    "ACCOUNTADMIN",
    "ORGADMIN",
    "GLOBALORGADMIN",
    "SECURITYADMIN",
];

/// The whole OAuth section of the emulator configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The security integrations (OAuth clients) that exist at start-up.
    #[serde(default)]
    pub integrations: Vec<IntegrationConfig>,
    /// Account parameter `OAUTH_ADD_PRIVILEGED_ROLES_TO_BLOCKED_LIST` (default TRUE).
    #[serde(default = "default_true")]
    pub add_privileged_roles_to_blocked_list: bool,
    /// Lifetime of an authorization code. Snowflake does not publish it; RFC 6749 §4.1.2
    /// recommends at most 10 minutes, which is the default.
    #[serde(default = "default_code_validity")]
    pub authorization_code_validity_seconds: u32,
    /// How token-endpoint and authorize errors are rendered (both are undocumented details).
    #[serde(default)]
    pub errors: ErrorRendering,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            integrations: Vec::new(),
            add_privileged_roles_to_blocked_list: true,
            authorization_code_validity_seconds: default_code_validity(),
            errors: ErrorRendering::default(),
        }
    }
}

/// Rendering of error answers where Snowflake's behaviour is UNCONFIRMED, so tests can prove
/// the client copes with every variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRendering {
    /// HTTP status of `invalid_client`. Default 400: the only status Snowflake's driver
    /// fixtures show for token-endpoint errors; RFC 6749 §5.2 would allow 401.
    #[serde(default = "default_invalid_client_status")]
    pub invalid_client_status: u16,
    /// Which documented JSON body shape error answers use.
    #[serde(default)]
    pub body_shape: ErrorBodyShape,
}

impl Default for ErrorRendering {
    fn default() -> Self {
        Self {
            invalid_client_status: default_invalid_client_status(),
            body_shape: ErrorBodyShape::default(),
        }
    }
}

/// The two documented error bodies (reference §6.5), or both merged into one object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorBodyShape {
    /// `{"error", "error_description", "data": null, "message", "code", "success": false}`:
    /// readable by a parser of either documented form.
    #[default]
    Combined,
    /// RFC 6749 `{"error", "error_description"}`, as in the drivers' fixtures.
    Oauth,
    /// Snowflake's documented `{"data": null, "message", "code", "success": false, "error"}`.
    Snowflake,
}

/// `OAUTH_CLIENT_TYPE`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientType {
    /// A client that can keep its secret; the only type allowed pre-authorized roles.
    #[default]
    Confidential,
    /// A client that cannot keep a secret (desktop, mobile).
    Public,
}

/// One `TYPE=OAUTH OAUTH_CLIENT=CUSTOM` security integration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// Integration name, as `SYSTEM$SHOW_OAUTH_CLIENT_SECRETS` takes it (normally uppercase).
    pub name: String,
    /// `OAUTH_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH_CLIENT_SECRET`.
    pub client_secret: Secret,
    /// `OAUTH_CLIENT_SECRET_2`: either secret authenticates, which is how secrets rotate.
    #[serde(default)]
    pub client_secret_2: Option<Secret>,
    /// `OAUTH_REDIRECT_URI`.
    pub redirect_uri: String,
    /// Further redirect URIs accepted (`OAUTH_ALLOWED_…`-style alternates).
    #[serde(default)]
    pub alternate_redirect_uris: Vec<String>,
    /// `ENABLED` (default TRUE).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `OAUTH_CLIENT_TYPE` (default CONFIDENTIAL).
    #[serde(default)]
    pub client_type: ClientType,
    /// `OAUTH_ENFORCE_PKCE` (default FALSE: PKCE applies only when the client sends it).
    #[serde(default)]
    pub enforce_pkce: bool,
    /// `OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED` (default FALSE).
    #[serde(default)]
    pub single_use_refresh_tokens_required: bool,
    /// `OAUTH_ISSUE_REFRESH_TOKENS` (default TRUE).
    #[serde(default = "default_true")]
    pub issue_refresh_tokens: bool,
    /// `OAUTH_ACCESS_TOKEN_VALIDITY` in seconds, 60..=3600 (default 600).
    #[serde(default = "default_access_validity")]
    pub access_token_validity_seconds: u32,
    /// `OAUTH_REFRESH_TOKEN_VALIDITY` in seconds, 3600..=7776000 (default 90 days).
    #[serde(default = "default_refresh_validity")]
    pub refresh_token_validity_seconds: u32,
    /// `BLOCKED_ROLES_LIST`; the privileged roles are added unless the account parameter
    /// says otherwise ([`OAuthConfig::add_privileged_roles_to_blocked_list`]).
    #[serde(default)]
    pub blocked_roles: Vec<String>,
    /// `PRE_AUTHORIZED_ROLES_LIST`: roles for which the user is never asked to consent.
    #[serde(default)]
    pub pre_authorized_roles: Vec<String>,
    /// Test mode: the user `/oauth/authorize` logs in as, with no browser. Without it the
    /// emulator cannot authorize anyone through this integration.
    #[serde(default)]
    pub auto_login_user: Option<String>,
    /// Test mode: whether that user consents to roles that are not pre-authorized
    /// (default TRUE); FALSE makes authorize answer "consent invalid" (390302).
    #[serde(default = "default_true")]
    pub auto_consent: bool,
}

/// A configuration the server refuses to start with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("OAuth integration name {0:?} is used twice")]
    DuplicateName(String),
    #[error("OAuth client id of integration {0:?} is used by another integration")]
    DuplicateClientId(String),
    #[error("OAuth integration {integration:?}: {field} must be within {min}..={max}, got {value}")]
    OutOfRange {
        integration: String,
        field: &'static str,
        min: u32,
        max: u32,
        value: u32,
    },
    #[error("OAuth integration {integration:?}: redirect URI {uri:?} is not an absolute URL")]
    InvalidRedirectUri { integration: String, uri: String },
    #[error(
        "OAuth integration {0:?}: PRE_AUTHORIZED_ROLES_LIST is only allowed for confidential clients"
    )]
    PreAuthorizedRolesOnPublicClient(String),
    #[error("OAuth integration {0:?}: name, client id and client secret must not be empty")]
    EmptyField(String),
}

impl IntegrationConfig {
    /// Checks the ranges and invariants Snowflake enforces at `CREATE SECURITY INTEGRATION`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || self.client_id.is_empty()
            || self.client_secret.expose().is_empty()
        {
            return Err(ConfigError::EmptyField(self.name.clone()));
        }
        self.check_range(
            "access_token_validity_seconds",
            self.access_token_validity_seconds,
            60,
            3600,
        )?;
        self.check_range(
            "refresh_token_validity_seconds",
            self.refresh_token_validity_seconds,
            3600,
            7_776_000,
        )?;
        for uri in self.redirect_uris() {
            if url::Url::parse(uri).is_err() {
                return Err(ConfigError::InvalidRedirectUri {
                    integration: self.name.clone(),
                    uri: uri.to_owned(),
                });
            }
        }
        if self.client_type == ClientType::Public && !self.pre_authorized_roles.is_empty() {
            return Err(ConfigError::PreAuthorizedRolesOnPublicClient(
                self.name.clone(),
            ));
        }
        Ok(())
    }

    fn check_range(
        &self,
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    ) -> Result<(), ConfigError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(ConfigError::OutOfRange {
                integration: self.name.clone(),
                field,
                min,
                max,
                value,
            })
        }
    }

    /// The primary redirect URI followed by the alternates.
    pub fn redirect_uris(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.redirect_uri.as_str())
            .chain(self.alternate_redirect_uris.iter().map(String::as_str))
    }

    /// The effective blocked roles: the configured list plus, when `add_privileged`, the
    /// privileged roles.
    pub fn effective_blocked_roles(&self, add_privileged: bool) -> BTreeSet<String> {
        let mut roles: BTreeSet<String> = self.blocked_roles.iter().cloned().collect();
        if add_privileged {
            roles.extend(PRIVILEGED_ROLES.iter().map(|r| (*r).to_owned()));
        }
        roles
    }
}

impl OAuthConfig {
    /// Validates every integration and the uniqueness of names and client ids.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for integration in &self.integrations {
            integration.validate()?;
            if !names.insert(integration.name.as_str()) {
                return Err(ConfigError::DuplicateName(integration.name.clone()));
            }
            if !ids.insert(integration.client_id.as_str()) {
                return Err(ConfigError::DuplicateClientId(integration.name.clone()));
            }
        }
        Ok(())
    }
}

fn default_true() -> bool {
    true
}
fn default_code_validity() -> u32 {
    600
}
fn default_invalid_client_status() -> u16 {
    400
}
fn default_access_validity() -> u32 {
    600
}
fn default_refresh_validity() -> u32 {
    7_776_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
integrations:
  - name: BI_APP
    client_id: "client-1"
    client_secret: "s3cret+/="
    client_secret_2: "zweites-geheimnis"
    redirect_uri: "http://127.0.0.1:8765/callback"
    auto_login_user: BI_SVC
"#;

    #[test]
    fn yaml_seed_gets_snowflake_defaults() {
        let config: OAuthConfig = serde_saphyr::from_str(YAML).expect("parses");
        config.validate().expect("valid");
        let i = &config.integrations[0];
        assert!(i.enabled && i.issue_refresh_tokens && i.auto_consent);
        assert!(!i.enforce_pkce && !i.single_use_refresh_tokens_required);
        assert_eq!(i.client_type, ClientType::Confidential);
        assert_eq!(i.access_token_validity_seconds, 600);
        assert_eq!(i.refresh_token_validity_seconds, 7_776_000);
        assert_eq!(config.authorization_code_validity_seconds, 600);
        assert_eq!(config.errors.invalid_client_status, 400);
        assert_eq!(config.errors.body_shape, ErrorBodyShape::Combined);
        assert!(config.add_privileged_roles_to_blocked_list);
    }

    #[test]
    fn debug_of_config_hides_client_secrets() {
        let config: OAuthConfig = serde_saphyr::from_str(YAML).expect("parses");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("zweites"),
            "{shown}"
        );
    }

    #[test]
    fn privileged_roles_are_blocked_unless_disabled() {
        let config: OAuthConfig = serde_saphyr::from_str(YAML).expect("parses");
        let i = &config.integrations[0];
        let blocked = i.effective_blocked_roles(true);
        for role in PRIVILEGED_ROLES {
            assert!(blocked.contains(role));
        }
        assert!(i.effective_blocked_roles(false).is_empty());
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let base: OAuthConfig = serde_saphyr::from_str(YAML).expect("parses");
        let mut c = base.clone();
        c.integrations[0].access_token_validity_seconds = 59;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "access_token_validity_seconds",
                ..
            })
        ));
        let mut c = base.clone();
        c.integrations[0].refresh_token_validity_seconds = 7_776_001;
        assert!(matches!(c.validate(), Err(ConfigError::OutOfRange { .. })));
        let mut c = base.clone();
        c.integrations[0].redirect_uri = "not a url".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::InvalidRedirectUri { .. })
        ));
        let mut c = base.clone();
        c.integrations[0].client_type = ClientType::Public;
        c.integrations[0].pre_authorized_roles = vec!["ANALYST".into()];
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PreAuthorizedRolesOnPublicClient(_))
        ));
        let mut c = base.clone();
        let mut twin = c.integrations[0].clone();
        twin.name = "OTHER".into();
        c.integrations.push(twin);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::DuplicateClientId(_))
        ));
        let mut c = base;
        let twin = c.integrations[0].clone();
        c.integrations.push(twin);
        assert!(matches!(c.validate(), Err(ConfigError::DuplicateName(_))));
        let unknown = "integrations: []\nsurprise: 1\n";
        assert!(serde_saphyr::from_str::<OAuthConfig>(unknown).is_err());
    }
}
