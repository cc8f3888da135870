//! The client's error type and its bounded category.
//!
//! Every variant carries what a user needs to act (Snowflake's `code`, `sqlState` and
//! message where Snowflake sent them) and nothing secret: tokens, secrets, keys and JWTs are
//! never formatted into an error. [`Error::category`] is a small closed set, safe to use as
//! a metrics label or Kubernetes event reason; the message text is not.

use std::time::Duration;

/// Result alias for the Snowflake client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A bounded classification of [`Error`], for metrics labels, event reasons and retry
/// decisions by callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Authentication was refused (bad key, wrong fingerprint, expired or revoked token).
    Auth,
    /// The object does not exist (or the role may not see it).
    NotFound,
    /// The object already exists.
    AlreadyExists,
    /// The role lacks a privilege.
    PermissionDenied,
    /// Snowflake asked us to slow down (HTTP 429).
    Throttled,
    /// Snowflake or the network path is unavailable (5xx, connection failures).
    Unavailable,
    /// A request, statement or overall deadline passed.
    Timeout,
    /// Input the client refused to send, or Snowflake rejected as malformed.
    InvalidInput,
    /// The request conflicts with Snowflake's state (limits, policies, rules).
    Conflict,
    /// Snowflake answered something this client does not understand.
    Protocol,
    /// Configuration (account, host, private key) is unusable.
    Configuration,
    /// OAuth `invalid_grant`: the code or refresh token is dead; a human must re-authorize.
    OAuthInvalidGrant,
    /// OAuth `invalid_client`: client id or secret is wrong.
    OAuthInvalidClient,
    /// OAuth `invalid_request`, `invalid_scope` or `unsupported_grant_type`.
    OAuthInvalidRequest,
}

impl Category {
    /// A stable CamelCase name, usable as an event reason or metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "Auth",
            Self::NotFound => "NotFound",
            Self::AlreadyExists => "AlreadyExists",
            Self::PermissionDenied => "PermissionDenied",
            Self::Throttled => "Throttled",
            Self::Unavailable => "Unavailable",
            Self::Timeout => "Timeout",
            Self::InvalidInput => "InvalidInput",
            Self::Conflict => "Conflict",
            Self::Protocol => "Protocol",
            Self::Configuration => "Configuration",
            Self::OAuthInvalidGrant => "OAuthInvalidGrant",
            Self::OAuthInvalidClient => "OAuthInvalidClient",
            Self::OAuthInvalidRequest => "OAuthInvalidRequest",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OAuth `error` values Snowflake documents, plus the ones RFC 6749 adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthErrorKind {
    /// The authorization code or refresh token is invalid, expired, revoked or replayed.
    InvalidGrant,
    /// Unknown client, wrong secret, bad Basic encoding, or a network policy blocked us.
    InvalidClient,
    /// The grant type is not supported (Snowflake has no `client_credentials`).
    UnsupportedGrantType,
    /// The request is malformed.
    InvalidRequest,
    /// The requested scope is invalid.
    InvalidScope,
    /// Any other `error` value, kept verbatim.
    Other(String),
}

impl OAuthErrorKind {
    /// Maps the wire `error` string.
    pub fn from_wire(error: &str) -> Self {
        match error {
            "invalid_grant" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_request" => Self::InvalidRequest,
            "invalid_scope" => Self::InvalidScope,
            // Authorize-redirect errors (RFC 6749 §4.1.2.1), mapped like their codes.
            "access_denied" => Self::InvalidGrant,
            "unauthorized_client" => Self::InvalidClient,
            "unsupported_response_type" => Self::InvalidRequest,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Maps Snowflake's numeric OAuth codes, for answers that carry a `code` but no
    /// `error`: 390302 consent invalid, 390303 token invalid or expired, 390307 redirect URI
    /// mismatch, 390309 username mismatch and 390311 PKCE failure all mean the grant is
    /// unusable; 390306 is an unknown client; 390308 an invalid scope; 390304 and 390305
    /// malformed requests.
    pub fn from_snowflake_code(code: &str) -> Option<Self> {
        Some(match code {
            "390302" | "390303" | "390307" | "390309" | "390311" => Self::InvalidGrant,
            "390306" => Self::InvalidClient,
            "390308" => Self::InvalidScope,
            "390304" | "390305" => Self::InvalidRequest,
            _ => return None,
        })
    }

    /// The wire `error` string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidScope => "invalid_scope",
            Self::Other(s) => s,
        }
    }
}

/// Everything that can go wrong talking to Snowflake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The account identifier or host override cannot be used.
    #[error("invalid Snowflake account or host {input:?}: {reason}")]
    InvalidAccount {
        /// What the user wrote (an account name or URL, never a secret).
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// The private key cannot be loaded or is too weak.
    #[error("unusable RSA private key: {0}")]
    PrivateKey(String),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// Signing the key-pair JWT failed.
    #[error("cannot sign the key-pair JWT: {0}")]
    Jwt(String),
    /// Input the client refuses to put into SQL or a request.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Snowflake executed or compiled the statement and refused it (HTTP 422).
    #[error("Snowflake rejected the statement (code {code}, SQLSTATE {sql_state}): {message}")]
    Statement {
        /// Snowflake's error code, e.g. `002003`.
        code: String,
        /// The SQLSTATE, e.g. `02000`.
        sql_state: String,
        /// Snowflake's message.
        message: String,
        /// The statement handle, for support requests.
        statement_handle: Option<String>,
    },
    /// The statement ran longer than its timeout and was cancelled (HTTP 408).
    #[error("the statement timed out in Snowflake and was cancelled (code {code}): {message}")]
    StatementTimeout {
        /// Snowflake's code.
        code: String,
        /// Snowflake's message.
        message: String,
    },
    /// Authentication was refused (HTTP 401), even with a freshly signed JWT.
    #[error("Snowflake refused authentication (HTTP {status}, code {code}): {message}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// Snowflake's code, or empty.
        code: String,
        /// Snowflake's message.
        message: String,
    },
    /// The SQL API is disabled for this account or path (HTTP 403).
    #[error("Snowflake refused access (HTTP 403, code {code}): {message}")]
    Forbidden {
        /// Snowflake's code, or empty.
        code: String,
        /// Snowflake's message.
        message: String,
    },
    /// Snowflake refused the request itself (HTTP 400, 404, 405, 415).
    #[error("Snowflake rejected the request (HTTP {status}, code {code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Snowflake's code, or empty.
        code: String,
        /// Snowflake's message.
        message: String,
    },
    /// Snowflake is throttling us (HTTP 429).
    #[error("Snowflake is throttling requests (HTTP 429, code {code}): {message}")]
    Throttled {
        /// Snowflake's code, or empty.
        code: String,
        /// Snowflake's message.
        message: String,
        /// The `Retry-After` Snowflake sent, if any.
        retry_after: Option<Duration>,
    },
    /// Snowflake answered with a server error (5xx).
    #[error("Snowflake is unavailable (HTTP {status}, code {code}): {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// Snowflake's code, or empty.
        code: String,
        /// Snowflake's message.
        message: String,
        /// The `Retry-After` Snowflake sent, if any.
        retry_after: Option<Duration>,
    },
    /// A user with the desired name exists but is not `TYPE = SERVICE`. Converging it
    /// would turn someone's own login into a managed service identity, so it is refused.
    #[error(
        "user {user} already exists with TYPE = {user_type}; only TYPE = SERVICE users are managed: choose another user name, or change that user's type in Snowflake"
    )]
    NotAServiceUser {
        /// The user's name.
        user: String,
        /// Its `TYPE` as `DESC USER` shows it.
        user_type: String,
    },
    /// The request never reached Snowflake (name resolution, a refused connection, the
    /// TLS handshake, the connect timeout): nothing was executed, so it is safe to send
    /// again, even a single-use refresh token.
    #[error("cannot reach Snowflake: {0}")]
    NotSent(String),
    /// The request was sent but no complete answer came back (the connection broke, or no
    /// answer within the request timeout): Snowflake may have executed it. A statement is
    /// resent with its `requestId` and `retry=true`; an OAuth token request must not be
    /// resent blindly, because a single-use refresh token may already have been rotated.
    #[error("no answer from Snowflake, which may have executed the request: {0}")]
    OutcomeUnknown(String),
    /// A deadline of a whole operation passed (a statement with all its retries and
    /// polls). A single request without an answer in time is [`Error::OutcomeUnknown`].
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What timed out ("statement").
        what: &'static str,
        /// The configured limit.
        after: Duration,
    },
    /// Retries of a transient failure did not succeed within the retry budget.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Number of attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// Snowflake answered something this client cannot interpret.
    #[error("unexpected answer from Snowflake: {0}")]
    Protocol(String),
    /// The OAuth token endpoint refused the request.
    #[error("OAuth token request refused (HTTP {status}, {}{}): {description}", kind.as_str(),
        if code.is_empty() { String::new() } else { format!(", code {code}") })]
    OAuth {
        /// The `error` value.
        kind: OAuthErrorKind,
        /// HTTP status.
        status: u16,
        /// Snowflake's numeric code (`390306`...), or empty.
        code: String,
        /// `error_description` or `message`.
        description: String,
    },
}

/// Snowflake error codes whose meaning maps to a category regardless of SQLSTATE.
fn statement_category(code: &str, sql_state: &str, message: &str) -> Category {
    match code {
        "002003" | "002043" => return Category::NotFound,
        "002002" => return Category::AlreadyExists,
        "003001" | "003011" => return Category::PermissionDenied,
        "001003" | "000904" | "002262" => return Category::InvalidInput,
        _ => {}
    }
    match sql_state {
        "02000" => Category::NotFound,
        "42710" => Category::AlreadyExists,
        "42501" => Category::PermissionDenied,
        "42000" | "42601" | "22023" | "22000" => Category::InvalidInput,
        "57014" => Category::Timeout,
        _ if message.contains("does not exist") => Category::NotFound,
        _ if message.contains("already exists") => Category::AlreadyExists,
        _ => Category::Conflict,
    }
}

impl Error {
    /// The bounded category of this error.
    pub fn category(&self) -> Category {
        match self {
            Self::InvalidAccount { .. }
            | Self::PrivateKey(_)
            | Self::Jwt(_)
            | Self::HttpClient(_) => Category::Configuration,
            Self::InvalidInput(_) => Category::InvalidInput,
            Self::NotAServiceUser { .. } => Category::Conflict,
            Self::Statement {
                code,
                sql_state,
                message,
                ..
            } => statement_category(code, sql_state, message),
            Self::StatementTimeout { .. } | Self::Timeout { .. } => Category::Timeout,
            Self::Unauthorized { .. } => Category::Auth,
            Self::Forbidden { .. } => Category::PermissionDenied,
            Self::Rejected { status: 400, .. } => Category::InvalidInput,
            Self::Rejected { .. } | Self::Protocol(_) => Category::Protocol,
            Self::Throttled { .. } => Category::Throttled,
            Self::Unavailable { .. } | Self::NotSent(_) | Self::OutcomeUnknown(_) => {
                Category::Unavailable
            }
            Self::RetriesExhausted { last, .. } => last.category(),
            Self::OAuth { kind, .. } => match kind {
                OAuthErrorKind::InvalidGrant => Category::OAuthInvalidGrant,
                OAuthErrorKind::InvalidClient => Category::OAuthInvalidClient,
                _ => Category::OAuthInvalidRequest,
            },
        }
    }

    /// Whether trying again later (with backoff) may succeed without a change of input.
    ///
    /// A statement Snowflake rejected, refused authentication, bad configuration and OAuth
    /// grant errors are permanent: retrying would repeat the failure (or, for OAuth, burn a
    /// single-use token chain).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. }
            | Self::Unavailable { .. }
            | Self::NotSent(_)
            | Self::OutcomeUnknown(_)
            | Self::Timeout { .. }
            | Self::StatementTimeout { .. } => true,
            Self::RetriesExhausted { last, .. } => last.is_transient(),
            Self::OAuth { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the request may have been executed although no answer arrived, so that
    /// resending it is safe only if the request is idempotent.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            Self::OutcomeUnknown(_) => true,
            Self::RetriesExhausted { last, .. } => last.is_outcome_unknown(),
            _ => false,
        }
    }

    /// Snowflake's error code, when Snowflake sent one.
    pub fn snowflake_code(&self) -> Option<&str> {
        match self {
            Self::Statement { code, .. }
            | Self::StatementTimeout { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Rejected { code, .. }
            | Self::Throttled { code, .. }
            | Self::Unavailable { code, .. }
            | Self::OAuth { code, .. } => (!code.is_empty()).then_some(code.as_str()),
            Self::RetriesExhausted { last, .. } => last.snowflake_code(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(code: &str, state: &str, msg: &str) -> Error {
        Error::Statement {
            code: code.into(),
            sql_state: state.into(),
            message: msg.into(),
            statement_handle: None,
        }
    }

    #[test]
    fn statement_errors_are_categorised_by_code_and_state() {
        let missing = stmt(
            "002003",
            "02000",
            "SQL compilation error:\nObject 'X' does not exist or not authorized.",
        );
        assert_eq!(missing.category(), Category::NotFound);
        assert!(!missing.is_transient());
        assert_eq!(
            stmt("002002", "42710", "already exists").category(),
            Category::AlreadyExists
        );
        assert_eq!(
            stmt("003001", "42501", "Insufficient privileges").category(),
            Category::PermissionDenied
        );
        assert_eq!(
            stmt("000904", "42000", "invalid identifier").category(),
            Category::InvalidInput
        );
        assert_eq!(
            stmt("999999", "P0000", "limit").category(),
            Category::Conflict
        );
        assert_eq!(missing.snowflake_code(), Some("002003"));
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        let throttled = Error::Throttled {
            code: "390505".into(),
            message: "Too many requests.".into(),
            retry_after: None,
        };
        assert!(throttled.is_transient());
        assert_eq!(throttled.category(), Category::Throttled);
        let exhausted = Error::RetriesExhausted {
            attempts: 5,
            last: Box::new(throttled),
        };
        assert!(exhausted.is_transient());
        assert_eq!(exhausted.category(), Category::Throttled);
        assert_eq!(exhausted.snowflake_code(), Some("390505"));
        let grant = Error::OAuth {
            kind: OAuthErrorKind::InvalidGrant,
            status: 400,
            code: String::new(),
            description: "expired".into(),
        };
        assert!(!grant.is_transient());
        assert_eq!(grant.category(), Category::OAuthInvalidGrant);
        assert_eq!(grant.category().as_str(), "OAuthInvalidGrant");
    }
}
