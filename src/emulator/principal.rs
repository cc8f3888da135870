//! Who runs a statement: the authenticated user, the session role, and how the
//! session was authenticated (some rules, like "a PAT session cannot manage PATs",
//! depend on it). Shared by every front end (SQL API, driver login, OAuth).

/// How a session authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// Key-pair JWT (`KEYPAIR_JWT`).
    KeyPairJwt,
    /// Programmatic access token; `token_name` is the token's name, never its secret.
    Pat { token_name: String },
    /// Snowflake OAuth access token issued by the emulator's authorization server.
    OAuth,
    /// An OIDC ID token accepted by the user's workload identity `identity` (its name,
    /// `DEFAULT` for the property-set one); the session ends when that identity is removed.
    WorkloadIdentity { identity: String },
}

impl AuthMethod {
    /// True for sessions authenticated with a programmatic access token.
    pub fn is_pat(&self) -> bool {
        matches!(self, AuthMethod::Pat { .. })
    }
}

/// The identity a statement runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name as stored (normally uppercase).
    pub user: String,
    /// The session's primary role.
    pub role: String,
    pub method: AuthMethod,
}
