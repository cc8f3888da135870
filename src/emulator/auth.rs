//! Bearer authentication for the SQL API: key-pair JWT (reference §2) and PAT
//! (§4.5), with OAuth access tokens delegated to a pluggable validator. Failures carry
//! Snowflake's codes and are answered with HTTP 401; nothing here logs a token.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use sha2::Sha256;

use super::oauth::{AccessTokenError, looks_like_access_token};
use super::principal::{AuthMethod, Principal};
use super::secret::TokenSecret;
use super::sql::SqlError;
use super::state::{AccountState, PUBLIC_ROLE};

/// A JWT may not live longer than this after `iat`.
const MAX_JWT_LIFETIME_SECS: i64 = 3600;
/// Clock skew tolerated on `iat`/`exp`.
const SKEW_SECS: i64 = 60;
/// `iat`/`exp` above this are milliseconds (year 2286 in seconds).
const MILLIS_THRESHOLD: i64 = 10_000_000_000;

/// An authentication failure: HTTP 401 with Snowflake's `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AuthError {
    pub code: &'static str,
    pub message: &'static str,
}

impl AuthError {
    pub const MISSING: AuthError = AuthError {
        code: "390101",
        message: "Authorization header is missing or is not a Bearer token.",
    };
    pub const JWT_INVALID: AuthError = AuthError {
        code: "390144",
        message: "JWT token is invalid.",
    };
    pub const PAT_INVALID: AuthError = AuthError {
        code: "394400",
        message: "Programmatic access token is invalid.",
    };
    pub const OAUTH_INVALID: AuthError = AuthError {
        code: "390303",
        message: "Invalid OAuth access token.",
    };
    pub const NETWORK_POLICY_REQUIRED: AuthError = AuthError {
        code: "390432",
        message: "Network policy is required.",
    };
    pub const IP_NOT_ALLOWED: AuthError = AuthError {
        code: "390422",
        message: "Incoming request is not allowed to access Snowflake: the client IP is not in the network policy.",
    };
    pub const USER_DISABLED: AuthError = AuthError {
        code: "390102",
        message: "User access disabled. Contact your local system administrator.",
    };
    /// An OAuth access token whose lifetime is over (the code the Python connector knows).
    pub const OAUTH_EXPIRED: AuthError = AuthError {
        code: "390318",
        message: "OAuth access token expired. ",
    };
    /// A driver login whose `LOGIN_NAME` is not the OAuth access token's user.
    pub const OAUTH_USER_MISMATCH: AuthError = AuthError {
        code: "390309",
        message: "The user you were trying to authenticate as differs from the user tied to the access token.",
    };
    /// A workload identity login whose token was not accepted: no identity trusts its
    /// issuer and subject, or its audience, lifetime or signature is wrong. The code is
    /// the emulator's choice (Snowflake's is UNCONFIRMED): the JWT-invalid one, since the
    /// token is a JWT.
    pub const WORKLOAD_IDENTITY_INVALID: AuthError = AuthError {
        code: "390144",
        message: "Workload identity authentication failed: the token was not accepted.",
    };
    /// A password login that matches no credential of the user.
    pub const PASSWORD_INVALID: AuthError = AuthError {
        code: "390100",
        message: "Incorrect username or password was specified.",
    };
}

impl From<AccessTokenError> for AuthError {
    fn from(error: AccessTokenError) -> Self {
        match error {
            AccessTokenError::Invalid => AuthError::OAUTH_INVALID,
            AccessTokenError::Expired => AuthError::OAUTH_EXPIRED,
            AccessTokenError::UsernameMismatch => AuthError::OAUTH_USER_MISMATCH,
        }
    }
}

/// The identity behind a bearer token, before the session role is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user: String,
    pub method: AuthMethod,
    /// A role the session must run as (a PAT's ROLE_RESTRICTION, an OAuth scope role).
    pub forced_role: Option<String>,
}

/// Validates OAuth access tokens; the OAuth face plugs one in.
pub trait OAuthTokenValidator: Send + Sync {
    /// `None` when the token is unknown, expired or revoked.
    fn validate(&self, token: &TokenSecret, now: Timestamp) -> Option<Authenticated>;

    /// The verdict with its reason: [`AuthError::OAUTH_EXPIRED`] for a token this
    /// validator issued whose lifetime is over, [`AuthError::OAUTH_INVALID`] otherwise.
    /// Validators that cannot tell the two apart keep this default.
    fn check(&self, token: &TokenSecret, now: Timestamp) -> Result<Authenticated, AuthError> {
        self.validate(token, now).ok_or(AuthError::OAUTH_INVALID)
    }
}

/// Authenticates `Authorization: Bearer …` with the optional
/// `X-Snowflake-Authorization-Token-Type`; sniffs the type when absent.
pub fn authenticate_bearer(
    state: &AccountState,
    authorization: Option<&str>,
    token_type: Option<&str>,
    oauth: Option<&Arc<dyn OAuthTokenValidator>>,
    now: Timestamp,
) -> Result<Authenticated, AuthError> {
    let header = authorization.ok_or(AuthError::MISSING)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::MISSING)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MISSING);
    }
    let token = TokenSecret::from_presented(token.trim());
    let validate_oauth = || match oauth {
        Some(validator) => validator
            .check(&token, now)
            .and_then(|authenticated| oauth_user_enabled(state, authenticated)),
        None => Err(AuthError::OAUTH_INVALID),
    };
    match token_type.map(str::to_ascii_uppercase).as_deref() {
        Some("KEYPAIR_JWT") => authenticate_jwt(state, token.expose(), now),
        Some("PROGRAMMATIC_ACCESS_TOKEN") => authenticate_pat(state, &token, now),
        Some("OAUTH") => validate_oauth(),
        Some(_) => Err(AuthError::JWT_INVALID),
        // No type given: sniff. A key-pair JWT names its key in `iss`; an OAuth access
        // token is whatever the OAuth face recognises or has its shape (so a revoked one
        // answers 390303); anything else is tried as a PAT.
        None if looks_like_keypair_jwt(token.expose()) => {
            authenticate_jwt(state, token.expose(), now)
        }
        None => match validate_oauth() {
            Err(AuthError::OAUTH_INVALID) if !looks_like_access_token(token.expose()) => {
                authenticate_pat(state, &token, now)
            }
            verdict => verdict,
        },
    }
}

/// An OAuth session of a user disabled since the grant is refused, as for every other
/// authentication method.
pub fn oauth_user_enabled(
    state: &AccountState,
    authenticated: Authenticated,
) -> Result<Authenticated, AuthError> {
    match state.users.get(&authenticated.user) {
        Some(user) if user.disabled => Err(AuthError::USER_DISABLED),
        Some(_) => Ok(authenticated),
        None => Err(AuthError::OAUTH_INVALID),
    }
}

fn decode_part(part: &str) -> Option<serde_json::Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A key-pair JWT has `.SHA256:` in its `iss` claim.
fn looks_like_keypair_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    decode_part(payload)
        .and_then(|claims| {
            claims
                .get("iss")?
                .as_str()
                .map(|iss| iss.contains(".SHA256:"))
        })
        .unwrap_or(false)
}

/// `iat`/`exp` as epoch seconds, accepting seconds or milliseconds.
fn epoch_seconds(value: &serde_json::Value) -> Option<i64> {
    let raw = value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?;
    Some(if raw > MILLIS_THRESHOLD {
        raw / 1000
    } else {
        raw
    })
}

/// Verifies an RS256 key-pair JWT against the user's key slots.
pub fn authenticate_jwt(
    state: &AccountState,
    token: &str,
    now: Timestamp,
) -> Result<Authenticated, AuthError> {
    let invalid = AuthError::JWT_INVALID;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid);
    };
    let header_json = decode_part(header).ok_or(invalid.clone())?;
    if header_json.get("alg").and_then(|a| a.as_str()) != Some("RS256") {
        return Err(invalid);
    }
    let claims = decode_part(payload).ok_or(invalid.clone())?;
    let iss = claims
        .get("iss")
        .and_then(|v| v.as_str())
        .ok_or(invalid.clone())?;
    let sub = claims
        .get("sub")
        .and_then(|v| v.as_str())
        .ok_or(invalid.clone())?;
    let iat = claims
        .get("iat")
        .and_then(epoch_seconds)
        .ok_or(invalid.clone())?;
    let exp = claims
        .get("exp")
        .and_then(epoch_seconds)
        .ok_or(invalid.clone())?;

    let marker = iss.find(".SHA256:").ok_or(invalid.clone())?;
    let (qualified_user, fingerprint) = (&iss[..marker], &iss[marker + 1..]);
    if qualified_user != sub {
        return Err(invalid);
    }
    let (account, user_name) = qualified_user.split_once('.').ok_or(invalid.clone())?;
    if !account_matches(state, account) {
        return Err(invalid);
    }
    let user = state.users.get(user_name).ok_or(invalid.clone())?;
    let slot = user
        .keys
        .iter()
        .flatten()
        .find(|k| k.fingerprint == fingerprint)
        .ok_or(invalid.clone())?;

    let now_secs = now.as_second();
    if now_secs >= exp
        || exp > iat + MAX_JWT_LIFETIME_SECS + SKEW_SECS
        || iat > now_secs + SKEW_SECS
        || now_secs > iat + MAX_JWT_LIFETIME_SECS
    {
        return Err(invalid);
    }

    let signature_bytes = URL_SAFE_NO_PAD
        .decode(signature.trim_end_matches('='))
        .map_err(|_| invalid.clone())?;
    let signature = Signature::try_from(signature_bytes.as_slice()).map_err(|_| invalid.clone())?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    VerifyingKey::<Sha256>::new(slot.key.clone())
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| invalid)?;
    if user.disabled {
        return Err(AuthError::USER_DISABLED);
    }
    Ok(Authenticated {
        user: user.name.clone(),
        method: AuthMethod::KeyPairJwt,
        forced_role: None,
    })
}

/// `ACCOUNT` of `iss`/`sub`: the account name (periods written as `-`) or the
/// locator, in uppercase as the reference requires.
fn account_matches(state: &AccountState, account: &str) -> bool {
    let name = state.account_name.to_ascii_uppercase().replace('.', "-");
    account == name
        || state
            .short_locator()
            .is_some_and(|locator| account == locator.to_ascii_uppercase())
}

/// Looks a PAT up by hash and applies the rules of reference §4.4/§4.5.
pub fn authenticate_pat(
    state: &AccountState,
    token: &TokenSecret,
    now: Timestamp,
) -> Result<Authenticated, AuthError> {
    let hash = token.sha256_hex();
    let (user, pat) = state
        .users
        .values()
        .find_map(|u| {
            u.pats
                .iter()
                .find(|p| p.secret_sha256 == hash)
                .map(|p| (u, p))
        })
        .ok_or(AuthError::PAT_INVALID)?;
    if user.disabled || pat.disabled || now >= pat.expires_at {
        return Err(AuthError::PAT_INVALID);
    }
    if let Some(role) = &pat.role_restriction
        && (!state.roles.contains(role) || !user.has_role(role))
    {
        return Err(AuthError::PAT_INVALID);
    }
    if !state.pat_use_allowed_by_network_rule(user, pat, now) {
        return Err(AuthError::NETWORK_POLICY_REQUIRED);
    }
    Ok(Authenticated {
        user: user.name.clone(),
        method: AuthMethod::Pat {
            token_name: pat.rotated_to.clone().unwrap_or_else(|| pat.name.clone()),
        },
        forced_role: pat.role_restriction.clone(),
    })
}

/// Chooses the session role: the forced role, else the requested one, else the
/// user's default role (PUBLIC if that is not granted).
pub fn session_principal(
    state: &AccountState,
    auth: Authenticated,
    requested_role: Option<&str>,
) -> Result<Principal, SqlError> {
    let not_granted = |role: &str| SqlError {
        code: "390189",
        sql_state: "08004",
        message: format!(
            "Role '{role}' specified in the connect string is not granted to this user. Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC."
        ),
    };
    let user = state
        .users
        .get(&auth.user)
        .ok_or_else(|| SqlError::does_not_exist("User", &auth.user))?;
    let role = match (&auth.forced_role, requested_role) {
        (Some(forced), Some(requested)) if forced != requested => {
            return Err(not_granted(requested));
        }
        (Some(forced), _) => forced.clone(),
        (None, Some(requested)) if user.has_role(requested) => requested.to_owned(),
        (None, Some(requested)) => return Err(not_granted(requested)),
        (None, None) => user
            .default_role
            .clone()
            .filter(|r| user.has_role(r))
            .unwrap_or_else(|| PUBLIC_ROLE.to_owned()),
    };
    Ok(Principal {
        user: auth.user,
        role,
        method: auth.method,
    })
}
