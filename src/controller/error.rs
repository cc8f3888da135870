//! The controllers' one error type and its bounded [`Reason`].
//!
//! [`Error::reason`] is a closed set of CamelCase names used as the `Ready` condition's
//! reason, the event reason and the `category` metrics label. The message ([`Display`])
//! says what happened and how to fix it; it may carry names and Snowflake's own messages,
//! never a credential.
//!
//! [`Display`]: std::fmt::Display

use crate::controller::secret::TemplateError;
use crate::controller::secret::writer::WriteError;
use crate::snowflake::{self, Category};

/// Why a reconcile could not reach the desired state (the `Ready=False` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A referenced Secret or one of its keys is missing.
    SecretNotFound,
    /// The private key is not a PEM RSA key, or the passphrase is wrong.
    InvalidPrivateKey,
    /// Snowflake refused the operator's key-pair JWT (the public key is not registered on
    /// the user, or the user is wrong or disabled).
    AuthenticationFailed,
    /// Snowflake cannot be reached or answers with transient errors.
    SnowflakeUnavailable,
    /// The account or host cannot be used.
    InvalidAccount,
    /// The referenced SnowflakeConnection is missing or not Ready.
    ConnectionNotReady,
    /// The referenced SnowflakeServiceUser is missing or not Ready.
    ServiceUserNotReady,
    /// The connection's role lacks a privilege.
    InsufficientPrivileges,
    /// A SERVICE user needs a network policy for programmatic access tokens.
    NetworkPolicyRequired,
    /// The user already has the maximum number of tokens.
    TokenLimitReached,
    /// The Snowflake user does not exist.
    UserNotFound,
    /// A user of that name exists and is not `TYPE = SERVICE`.
    UserNotService,
    /// The role restriction is not granted to the user.
    RoleNotGranted,
    /// A role does not exist.
    RoleNotFound,
    /// Snowflake requires a role restriction for this user.
    RoleRestrictionRequired,
    /// Snowflake refused the statement for another reason.
    SnowflakeRejected,
    /// The spec passes the schema but cannot be acted on (a template that does not
    /// render, a duration out of range).
    InvalidSpec,
    /// The Secret to write belongs to someone else.
    SecretConflict,
    /// The Kubernetes API refused or failed a request.
    KubernetesError,
    /// A new credential did not authenticate in the check before it replaced the old one.
    VerificationFailed,
    /// Snowflake refused the OAuth refresh token as dead (`invalid_grant`: expired,
    /// revoked, or replayed): a person must authorize again.
    ReauthorizationRequired,
    /// Snowflake refused the OAuth client (`invalid_client`: unknown client id, wrong
    /// secret, or a network policy blocking the operator's address).
    OAuthClientRejected,
    /// Snowflake refused the OAuth request itself (`invalid_request`, `invalid_scope`,
    /// `unsupported_grant_type`).
    OAuthRequestRejected,
    /// Both public-key slots of the user hold keys the operator did not register.
    KeySlotsTaken,
    /// The cluster's service-account token issuer could not be discovered (workload
    /// identity federation): set `spec.workloadIdentity.issuer`.
    IssuerUnknown,
    /// The ConfigMap to write for workload identity consumers belongs to someone else.
    ConfigMapConflict,
}

impl Reason {
    /// The CamelCase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretNotFound => "SecretNotFound",
            Self::InvalidPrivateKey => "InvalidPrivateKey",
            Self::AuthenticationFailed => "AuthenticationFailed",
            Self::SnowflakeUnavailable => "SnowflakeUnavailable",
            Self::InvalidAccount => "InvalidAccount",
            Self::ConnectionNotReady => "ConnectionNotReady",
            Self::ServiceUserNotReady => "ServiceUserNotReady",
            Self::InsufficientPrivileges => "InsufficientPrivileges",
            Self::NetworkPolicyRequired => "NetworkPolicyRequired",
            Self::TokenLimitReached => "TokenLimitReached",
            Self::UserNotFound => "UserNotFound",
            Self::UserNotService => "UserNotService",
            Self::RoleNotGranted => "RoleNotGranted",
            Self::RoleNotFound => "RoleNotFound",
            Self::RoleRestrictionRequired => "RoleRestrictionRequired",
            Self::SnowflakeRejected => "SnowflakeRejected",
            Self::InvalidSpec => "InvalidSpec",
            Self::SecretConflict => "SecretConflict",
            Self::KubernetesError => "KubernetesError",
            Self::VerificationFailed => "VerificationFailed",
            Self::ReauthorizationRequired => "ReauthorizationRequired",
            Self::OAuthClientRejected => "OAuthClientRejected",
            Self::OAuthRequestRejected => "OAuthRequestRejected",
            Self::KeySlotsTaken => "KeySlotsTaken",
            Self::IssuerUnknown => "IssuerUnknown",
            Self::ConfigMapConflict => "ConfigMapConflict",
        }
    }
}

/// A failed step of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A referenced Secret is missing.
    #[error("Secret {name} not found in this namespace: {purpose}")]
    SecretMissing {
        /// The Secret's name.
        name: String,
        /// What it was for and how to fix it.
        purpose: String,
    },
    /// A referenced key of a Secret is missing or empty.
    #[error("Secret {name} has no key {key:?} (or it is empty): {purpose}")]
    SecretKeyMissing {
        /// The Secret's name.
        name: String,
        /// The key.
        key: String,
        /// What it was for.
        purpose: String,
    },
    /// A referenced resource of this operator is missing or not Ready.
    #[error("{kind} {name} {state}")]
    Dependency {
        /// The reason to report ([`Reason::ConnectionNotReady`] or
        /// [`Reason::ServiceUserNotReady`]).
        reason: Reason,
        /// Its kind.
        kind: &'static str,
        /// Its name.
        name: String,
        /// "not found in this namespace", "is not Ready: ...".
        state: String,
        /// It exists and has no verdict yet for its current spec (being verified or
        /// converged): the dependent waits quietly instead of reporting a failure.
        pending: bool,
    },
    /// A Snowflake operation failed.
    #[error("{operation} failed: {source}")]
    Snowflake {
        /// What was attempted, for the message ("adding token PBI to user BI_SVC").
        operation: String,
        /// The client's error.
        source: snowflake::Error,
    },
    /// The spec cannot be acted on.
    #[error("{0}")]
    InvalidSpec(String),
    /// A template does not render.
    #[error("spec.secret.template cannot be rendered: {0}")]
    Template(#[from] TemplateError),
    /// The Secret could not be written.
    #[error(transparent)]
    SecretWrite(#[from] WriteError),
    /// A Kubernetes request failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was attempted.
        what: String,
        /// The API error.
        source: kube::Error,
    },
    /// No public-key slot of the user is free for the operator's key.
    #[error("{0}")]
    KeySlotsTaken(String),
    /// The cluster's service-account issuer is unknown (workload identity federation).
    #[error(
        "the cluster's service-account token issuer is unknown: {0}; or set spec.workloadIdentity.issuer"
    )]
    IssuerUnknown(String),
    /// The ConfigMap for workload identity consumers is someone else's.
    #[error("{0}")]
    ConfigMapConflict(String),
    /// The new credential did not authenticate.
    #[error(
        "the new value of token {token} did not authenticate ({source}); the Secret keeps the previous value, which stays valid for its grace period"
    )]
    Verification {
        /// The token name.
        token: String,
        /// Snowflake's answer.
        source: snowflake::Error,
    },
}

impl Error {
    /// A Snowflake failure while doing `operation`.
    pub fn snowflake(operation: impl Into<String>, source: snowflake::Error) -> Self {
        Self::Snowflake {
            operation: operation.into(),
            source,
        }
    }

    /// A Kubernetes failure while doing `what`.
    pub fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            what: what.into(),
            source,
        }
    }

    /// The bounded reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::SecretMissing { .. } | Self::SecretKeyMissing { .. } => Reason::SecretNotFound,
            Self::Dependency { reason, .. } => *reason,
            Self::Snowflake { source, .. } => snowflake_reason(source),
            Self::InvalidSpec(_) | Self::Template(_) => Reason::InvalidSpec,
            Self::SecretWrite(WriteError::NotManaged { .. } | WriteError::OtherToken { .. }) => {
                Reason::SecretConflict
            }
            Self::SecretWrite(_) | Self::Kube { .. } => Reason::KubernetesError,
            Self::Verification { .. } => Reason::VerificationFailed,
            Self::KeySlotsTaken(_) => Reason::KeySlotsTaken,
            Self::IssuerUnknown(_) => Reason::IssuerUnknown,
            Self::ConfigMapConflict(_) => Reason::ConfigMapConflict,
        }
    }

    /// The type of the event that reports this error: a resource waiting on a connection
    /// or service user that is not Ready is `Normal` (it is usually still being verified
    /// after `kubectl apply`, and when it is broken, that resource carries the warning);
    /// every other failure is a `Warning`.
    pub fn event_type(&self) -> kube::runtime::events::EventType {
        match self {
            Self::Dependency { .. } => kube::runtime::events::EventType::Normal,
            _ => kube::runtime::events::EventType::Warning,
        }
    }

    /// Whether this is a wait for a dependency that has no verdict yet (see
    /// [`Error::Dependency`]'s `pending`): nothing to report, since the dependency's own
    /// verdict wakes the dependent.
    pub fn is_pending_dependency(&self) -> bool {
        matches!(self, Self::Dependency { pending: true, .. })
    }

    /// Whether trying again later may succeed without a change by a person: such errors
    /// back off; the others wait for a change (or the periodic check).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Snowflake { source, .. } | Self::Verification { source, .. } => {
                source.is_transient()
            }
            // Conflicts wait for a person; any other refusal of the write (an admission
            // webhook or policy, a quota) is retried with backoff, since a minted value
            // may be waiting in memory for it.
            Self::SecretWrite(e) => !matches!(
                e,
                WriteError::NotManaged { .. } | WriteError::OtherToken { .. }
            ),
            Self::Kube { source, .. } => !matches!(
                source,
                kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 409 && status.code != 429
            ),
            // A dependency becoming Ready triggers a reconcile through the watches;
            // retrying meanwhile is cheap (no Snowflake request) and covers a missed event.
            Self::Dependency { .. } => true,
            // An API server hiccup or a missing RBAC rule: retried with backoff, since a
            // fixed ClusterRole or restarted API server needs no change to the resource.
            Self::IssuerUnknown(_) => true,
            Self::SecretMissing { .. }
            | Self::SecretKeyMissing { .. }
            | Self::ConfigMapConflict(_)
            | Self::InvalidSpec(_)
            | Self::KeySlotsTaken(_)
            | Self::Template(_) => false,
        }
    }

    /// The Snowflake error, when this is one.
    pub fn snowflake_error(&self) -> Option<&snowflake::Error> {
        match self {
            Self::Snowflake { source, .. } | Self::Verification { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Maps a Snowflake refusal a user can cause to its own reason; the rest by category.
/// Snowflake documents few error codes for these, so the message text is matched too
/// (reference §4.2, §4.4).
pub fn snowflake_reason(error: &snowflake::Error) -> Reason {
    let message = error.to_string().to_ascii_lowercase();
    if let snowflake::Error::NotAServiceUser { .. } = error {
        return Reason::UserNotService;
    }
    if error.snowflake_code() == Some("390432") || message.contains("network policy is required") {
        return Reason::NetworkPolicyRequired;
    }
    if message.contains("maximum number of programmatic access tokens") {
        return Reason::TokenLimitReached;
    }
    if message.contains("role_restriction is required") {
        return Reason::RoleRestrictionRequired;
    }
    if message.contains("is not granted to") {
        return Reason::RoleNotGranted;
    }
    match error.category() {
        Category::NotFound if message.contains("role '") => Reason::RoleNotFound,
        Category::NotFound if message.contains("user '") => Reason::UserNotFound,
        Category::NotFound => Reason::SnowflakeRejected,
        Category::Auth => Reason::AuthenticationFailed,
        Category::PermissionDenied => Reason::InsufficientPrivileges,
        Category::Throttled | Category::Unavailable | Category::Timeout => {
            Reason::SnowflakeUnavailable
        }
        Category::Configuration => match error {
            snowflake::Error::PrivateKey(_) => Reason::InvalidPrivateKey,
            _ => Reason::InvalidAccount,
        },
        Category::OAuthInvalidGrant => Reason::ReauthorizationRequired,
        Category::OAuthInvalidClient => Reason::OAuthClientRejected,
        Category::OAuthInvalidRequest => Reason::OAuthRequestRejected,
        Category::AlreadyExists
        | Category::InvalidInput
        | Category::Conflict
        | Category::Protocol => Reason::SnowflakeRejected,
    }
}

/// What to do about `reason`, appended to condition messages so the fix is where the
/// user reads the problem.
pub fn remedy(reason: Reason) -> &'static str {
    match reason {
        Reason::SecretNotFound => {
            "create the Secret (or fix the reference); the operator retries when it changes"
        }
        Reason::InvalidPrivateKey => {
            "store a PEM-encoded RSA private key (PKCS#8, or PKCS#1; encrypted PKCS#8 with passphraseSecretRef) of 2048 bits or more"
        }
        Reason::AuthenticationFailed => {
            "register the key's public half on the user (ALTER USER ... SET RSA_PUBLIC_KEY='...'; compare status.publicKeyFingerprint with RSA_PUBLIC_KEY_FP of DESC USER) and check spec.user and spec.account"
        }
        Reason::SnowflakeUnavailable => {
            "the operator retries with backoff; the Secret keeps its current value"
        }
        Reason::InvalidAccount => "fix spec.account or spec.host of the SnowflakeConnection",
        Reason::ConnectionNotReady => "see the SnowflakeConnection's Ready condition",
        Reason::ServiceUserNotReady => "see the SnowflakeServiceUser's Ready condition",
        Reason::InsufficientPrivileges => {
            "grant the connection's role the privilege (for tokens: OWNERSHIP or MODIFY PROGRAMMATIC AUTHENTICATION METHODS ON USER; for users: CREATE USER, OWNERSHIP)"
        }
        Reason::NetworkPolicyRequired => {
            "SERVICE users need a network policy to generate and use programmatic access tokens: set spec.networkPolicy on the SnowflakeServiceUser, or an account network policy"
        }
        Reason::TokenLimitReached => {
            "a user can hold 15 tokens, rotated-out ones included until their grace period ends: remove unused tokens of the user, lower rotatedTokenGracePeriodHours, or spread tokens over more users"
        }
        Reason::UserNotFound => {
            "create the user (or reference a SnowflakeServiceUser) or fix user.name"
        }
        Reason::UserNotService => {
            "choose another user name, or change that user's TYPE in Snowflake"
        }
        Reason::RoleNotGranted => {
            "grant the role to the user (add it to the SnowflakeServiceUser's roles) or change roleRestriction"
        }
        Reason::RoleNotFound => "create the role in Snowflake or fix the role name",
        Reason::RoleRestrictionRequired => {
            "set programmaticAccessToken.roleRestriction to a role granted to the user (required for SERVICE users)"
        }
        Reason::SnowflakeRejected => {
            "fix the cause Snowflake names; the operator retries after a change or at the next periodic check"
        }
        Reason::InvalidSpec => "fix the spec",
        Reason::SecretConflict => "choose another spec.secret.name, or delete that Secret",
        Reason::IssuerUnknown => {
            "set spec.workloadIdentity.issuer to the iss claim of the cluster's service-account tokens (the public issuer URL Snowflake can reach), or let the operator read /.well-known/openid-configuration"
        }
        Reason::ConfigMapConflict => {
            "choose another spec.workloadIdentity.configMap.name, or delete that ConfigMap"
        }
        Reason::KubernetesError => "the operator retries with backoff",
        Reason::VerificationFailed => {
            "the operator retries; check the user's network policy and role restriction"
        }
        Reason::ReauthorizationRequired => {
            "run `snowflake-token-operator authorize` for this token to store a new refresh token; the operator uses it as soon as the Secret changes"
        }
        Reason::OAuthClientRejected => {
            "store the client id and secret that SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('<INTEGRATION>') prints in the clientSecretRef Secret, and check the integration's network policy; the operator retries every few minutes"
        }
        Reason::OAuthRequestRejected => {
            "check oauth.role (the role must be granted to the user and not blocked by the integration)"
        }
        Reason::KeySlotsTaken => {
            "free one slot of the user; the operator looks again at the next periodic check, or at once after `snowflake-token-operator rotate`"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(code: &str, state: &str, message: &str) -> snowflake::Error {
        snowflake::Error::Statement {
            code: code.into(),
            sql_state: state.into(),
            message: message.into(),
            statement_handle: None,
        }
    }

    #[test]
    fn refusals_a_user_can_cause_have_their_own_reason() {
        let table = [
            (
                statement("390432", "08004", "Network policy is required."),
                Reason::NetworkPolicyRequired,
            ),
            (
                statement(
                    "001008",
                    "22023",
                    "SQL compilation error:\nUser 'BI' already has the maximum number of programmatic access tokens (15).",
                ),
                Reason::TokenLimitReached,
            ),
            (
                statement(
                    "001008",
                    "22023",
                    "SQL compilation error:\nRole 'X' is not granted to user 'BI'.",
                ),
                Reason::RoleNotGranted,
            ),
            (
                statement(
                    "001008",
                    "22023",
                    "SQL compilation error:\nROLE_RESTRICTION is required for programmatic access tokens of SERVICE users.",
                ),
                Reason::RoleRestrictionRequired,
            ),
            (
                statement(
                    "002003",
                    "02000",
                    "SQL compilation error:\nRole 'NOPE' does not exist or not authorized.",
                ),
                Reason::RoleNotFound,
            ),
            (
                statement(
                    "002003",
                    "02000",
                    "SQL compilation error:\nUser 'GONE' does not exist or not authorized.",
                ),
                Reason::UserNotFound,
            ),
            (
                statement(
                    "003001",
                    "42501",
                    "SQL access control error:\nInsufficient privileges to operate on user 'BI'",
                ),
                Reason::InsufficientPrivileges,
            ),
            (
                snowflake::Error::NotAServiceUser {
                    user: "JANE".into(),
                    user_type: "PERSON".into(),
                },
                Reason::UserNotService,
            ),
            (
                snowflake::Error::Unauthorized {
                    status: 401,
                    code: "390144".into(),
                    message: "JWT token is invalid.".into(),
                },
                Reason::AuthenticationFailed,
            ),
            (
                snowflake::Error::NotSent("connection refused".into()),
                Reason::SnowflakeUnavailable,
            ),
            (
                snowflake::Error::PrivateKey("not a PEM".into()),
                Reason::InvalidPrivateKey,
            ),
        ];
        for (error, reason) in table {
            assert_eq!(snowflake_reason(&error), reason, "{error}");
        }
    }

    #[test]
    fn reasons_are_camel_case_names() {
        for reason in [
            Reason::SecretNotFound,
            Reason::TokenLimitReached,
            Reason::VerificationFailed,
        ] {
            let name = reason.as_str();
            assert!(name.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }
}
